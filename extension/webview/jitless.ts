// Imported first by the webview script, before any zod schema is built: no `new Function` in the
// diff viewer. zod compiles object parsers with it, and probes for it when the first object schema is
// constructed; the page's CSP (script-src with a nonce, no 'unsafe-eval') refuses it, and even the
// caught probe is reported as a content security policy violation.
import { z } from 'zod';

z.config({ jitless: true });
