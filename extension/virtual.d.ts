// Modules that scripts/build.mjs provides at bundle time.
declare module 'redress:api-source' {
  /** The text of shared/correction.ts: the authoring API, for generated type declarations. */
  const source: string;
  export default source;
}
