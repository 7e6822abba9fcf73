// vega and vega-lite are ESM-only with top-level await, so `require()` cannot load them (ERR_REQUIRE_ASYNC_MODULE)
// and TypeScript rewrites `import()` into `require()` in our CommonJS build. A Function body is not rewritten.
const dynamicImport = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

export async function importEsm<T>(specifier: string): Promise<T> {
  return (await dynamicImport(specifier)) as T;
}
