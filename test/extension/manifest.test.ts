// package.json's extension manifest against the code: every command in the registry is contributed
// and every contributed command is in the registry (vscode-pull-request-github's check-commands), and
// the same for settings (extension/config.ts) — ids, titles, defaults, types.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { CATEGORY, COMMANDS, COMMAND_IDS } from '../../extension/commandRegistry';
import { readSettings, restartNeeded, SETTINGS, type SettingKey } from '../../extension/config';

const root = join(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  main: string;
  engines: { vscode: string };
  activationEvents: string[];
  devDependencies: Record<string, string>;
  contributes: {
    commands: { command: string; title: string; category: string; icon?: string }[];
    configuration: { properties: Record<string, { default: unknown; type?: string; anyOf?: unknown[]; markdownDescription: string }> };
    menus: Record<string, { command: string; when?: string }[]>;
    views: Record<string, { id: string }[]>;
  };
};
const commandsTs = readFileSync(join(root, 'extension', 'commands.ts'), 'utf8');

test('every registry command is in package.json with its title and category, and nothing else is', () => {
  const contributed = new Map(pkg.contributes.commands.map((c) => [c.command, c]));
  assert.deepEqual([...contributed.keys()].sort(), [...COMMAND_IDS].sort());
  for (const id of COMMAND_IDS) {
    const c = contributed.get(id)!;
    assert.equal(c.title, COMMANDS[id].title, id);
    assert.equal(c.category, CATEGORY, id);
    assert.equal(c.icon, 'icon' in COMMANDS[id] ? COMMANDS[id].icon : undefined, id);
  }
});

test('every registry command has a handler in commands.ts (registered from the registry, none extra)', () => {
  for (const id of COMMAND_IDS) assert.ok(commandsTs.includes(`'${id}': async`), `no handler for ${id}`);
  const handlerIds = [...commandsTs.matchAll(/^ {2}'(redress\.[A-Za-z]+)': async/gm)].map((m) => m[1]);
  assert.deepEqual(handlerIds.sort(), [...COMMAND_IDS].sort());
  assert.match(commandsTs, /Object\.keys\(COMMANDS\) as CommandId\[\]\)\.map\(\(id\) =>\s*vscode\.commands\.registerCommand\(id/);
});

test('menus name only registered commands; commands that need an argument are hidden from the palette', () => {
  for (const [menu, items] of Object.entries(pkg.contributes.menus)) {
    for (const item of items) assert.ok(COMMAND_IDS.includes(item.command as never), `${menu} names unknown command ${item.command}`);
  }
  const hidden = pkg.contributes.menus.commandPalette!.filter((i) => i.when === 'false').map((i) => i.command);
  assert.deepEqual(hidden.sort(), COMMAND_IDS.filter((id) => !COMMANDS[id].palette).sort());
  // Run actions appear only on runs that allow them (runsModel's capabilities).
  for (const item of pkg.contributes.menus['view/item/context']!) assert.match(item.when ?? '', /^view == redress\.runs && viewItem =~ \/can[A-Z][a-z]+\/$/);
});

test('the manifest points at the bundle, activates on corrections or a config, and matches @types/vscode', () => {
  assert.equal(pkg.main, './dist/extension.js');
  assert.deepEqual(pkg.activationEvents.sort(), ['workspaceContains:corrections/**/*.correction.ts', 'workspaceContains:redress.config.json']);
  const engine = /^\^(\d+\.\d+)\./.exec(pkg.engines.vscode)?.[1];
  assert.equal(pkg.devDependencies['@types/vscode']!.replace(/^[\^~]/, '').split('.').slice(0, 2).join('.'), engine, '@types/vscode must not be newer than engines.vscode');
  assert.deepEqual(pkg.contributes.views.explorer!.map((v) => v.id), ['redress.runs']);
});

test('every setting in config.ts is contributed with the same default and type, and nothing else is', () => {
  const props = pkg.contributes.configuration.properties;
  assert.deepEqual(Object.keys(props).sort(), Object.keys(SETTINGS).map((k) => `redress.${k}`).sort());
  for (const [key, s] of Object.entries(SETTINGS) as [SettingKey, (typeof SETTINGS)[SettingKey]][]) {
    const p = props[`redress.${key}`]!;
    assert.deepEqual(p.default, (s.schema as z.ZodType).parse(undefined), key);
    const js = z.toJSONSchema(s.schema as z.ZodType, { io: 'input' }) as Record<string, unknown>;
    assert.equal(p.type, js.type, `${key} type`);
    assert.deepEqual(p.anyOf, js.anyOf, `${key} anyOf`);
    assert.ok(p.markdownDescription.startsWith(s.description), `${key} description`);
    assert.equal(/restarts the daemon/.test(p.markdownDescription), s.restart, `${key} says whether it needs a restart`);
  }
});

test('readSettings: defaults when unset; a bad value falls back to its default and is reported', () => {
  const { settings, problems } = readSettings(() => undefined);
  assert.equal(settings.nodePath, '');
  assert.equal(settings.sampleSize, null);
  assert.equal(settings['daemon.requestTimeoutSeconds'], 120);
  assert.deepEqual(problems, []);
  const bad = readSettings((k) => ({ sampleSize: 0, batchSize: 'lots', compileOnSave: false, nodePath: '/opt/node/bin/node' })[k]);
  assert.equal(bad.settings.sampleSize, null);
  assert.equal(bad.settings.batchSize, null);
  assert.equal(bad.settings.compileOnSave, false);
  assert.equal(bad.settings.nodePath, '/opt/node/bin/node');
  assert.deepEqual(bad.problems.map((p) => p.key).sort(), ['redress.batchSize', 'redress.sampleSize']);
});

test('restartNeeded names the changed settings that need a daemon restart, and only those', () => {
  const base = readSettings(() => undefined).settings;
  assert.deepEqual(restartNeeded(base, { ...base, sampleSize: 50 }), []);
  assert.deepEqual(restartNeeded(base, { ...base, nodePath: '/usr/bin/node', sampleSize: 50 }), ['nodePath']);
  assert.deepEqual(restartNeeded(base, { ...base, 'daemon.idleMinutes': 1 }), ['daemon.idleMinutes']);
});
