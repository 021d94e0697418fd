// The version stamped on every ledger event and reported by `redress --version`.
export const VERSION = '0.1.0';
