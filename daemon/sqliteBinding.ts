// Which compiled better-sqlite3 addon the daemon loads. The VS Code extension may start the daemon
// with a Node other than the one the shipped addon was built for; it then builds the addon for that
// Node once and names it in REDRESS_SQLITE_BINDING (see extension/native.ts).
import type Database from 'better-sqlite3';

export function sqliteOptions(): Database.Options {
  const binding = process.env.REDRESS_SQLITE_BINDING;
  return binding ? { nativeBinding: binding } : {};
}
