// A module resolve hook (module.register) for the Stryker worker: `import … from 'uvu'` gets uvu-shim.mjs.
const SHIM = new URL('./uvu-shim.mjs', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier === 'uvu') return { url: SHIM, shortCircuit: true };
  return next(specifier, context);
}
