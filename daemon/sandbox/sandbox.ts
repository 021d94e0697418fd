// The daemon's side of the sandbox: one worker thread per run, with a watchdog on every batch.
import { Worker } from 'node:worker_threads';
import { RedressError } from '../../shared/errors';
import { Manifest } from '../../shared/manifest';
import { sandboxWorkerPath } from '../paths';
import type { FromWorker, ToWorker, TransformResult } from './messages';
import { manifestDiagnostics } from './manifestErrors';

export interface SandboxOptions {
  seed: number;
  /** The run's fixed clock, ms since the epoch. */
  now: number;
  params: Record<string, string>;
  /** A batch that takes longer than this is stopped and the run halts. */
  batchTimeoutMs?: number;
}

export class Sandbox {
  private nextId = 1;
  private pending: { resolve: (m: FromWorker) => void; reject: (e: Error) => void } | null = null;
  private dead: Error | null = null;

  private constructor(
    private readonly worker: Worker,
    readonly manifest: Manifest,
    private readonly batchTimeoutMs: number,
  ) {}

  /** Starts a worker, loads the compiled correction and validates its manifest. */
  static async load(code: string, file: string, source: string | null, opts: SandboxOptions): Promise<Sandbox> {
    const worker = new Worker(sandboxWorkerPath(), { resourceLimits: { maxOldGenerationSizeMb: 512, maxYoungGenerationSizeMb: 8 }, stderr: false });
    const first = await new Promise<FromWorker>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      const msg: ToWorker = { type: 'load', code, filename: file, seed: opts.seed, now: opts.now, params: opts.params };
      worker.postMessage(msg);
    }).catch(async (e) => {
      await worker.terminate();
      throw new RedressError('COMPILE', `The sandbox could not start the correction ${file}: ${(e as Error).message}`);
    });
    if (first.type === 'load-error') {
      await worker.terminate();
      throw new RedressError('MANIFEST', `${file}: ${first.message}`);
    }
    if (first.type !== 'loaded') throw new RedressError('INTERNAL', 'unexpected first message from the sandbox');
    const parsed = Manifest.safeParse(first.manifest);
    if (!parsed.success) {
      await worker.terminate();
      const diagnostics = manifestDiagnostics(parsed.error, file, source);
      throw new RedressError('MANIFEST', `${file}: the defineCorrection({...}) manifest is invalid:\n${diagnostics.map((d) => `  ${d.path?.join('.') || '(root)'}: ${d.message}`).join('\n')}`, { diagnostics });
    }
    const sb = new Sandbox(worker, parsed.data, opts.batchTimeoutMs ?? Number(process.env.REDRESS_BATCH_TIMEOUT_MS ?? 60_000));
    worker.on('message', (m: FromWorker) => {
      const p = sb.pending;
      sb.pending = null;
      p?.resolve(m);
    });
    const die = (e: Error) => {
      sb.dead = e;
      sb.pending?.reject(e);
      sb.pending = null;
    };
    worker.on('error', (e) => die(new RedressError('TRANSFORM_TIMEOUT', `The transform crashed its sandbox: ${e.message}. Fix the correction and resume the run.`)));
    worker.on('exit', () => die(new RedressError('INTERNAL', 'The sandbox worker exited.')));
    return sb;
  }

  /** Transforms one batch; rows at `recheck` indexes are evaluated twice to detect non-determinism. */
  async run(rows: Record<string, unknown>[], keys: string[], recheck: number[]): Promise<TransformResult[]> {
    if (this.dead) throw this.dead;
    const id = this.nextId++;
    const reply = await new Promise<FromWorker>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = null;
        void this.worker.terminate();
        reject(
          new RedressError('TRANSFORM_TIMEOUT', `The transform did not finish a batch of ${rows.length} rows in ${this.batchTimeoutMs / 1000}s (an endless loop?). The run halted; nothing from this batch was written. Fix the correction, then resume.`),
        );
      }, this.batchTimeoutMs);
      this.pending = {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const msg: ToWorker = { type: 'run', id, rows, keys, recheck };
      this.worker.postMessage(msg);
    });
    if (reply.type !== 'results' || reply.id !== id) throw new RedressError('INTERNAL', 'the sandbox answered out of turn');
    return reply.results;
  }

  async close(): Promise<void> {
    this.dead = new RedressError('INTERNAL', 'sandbox closed');
    await this.worker.terminate();
  }
}
