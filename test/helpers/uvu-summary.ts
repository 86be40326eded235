// Reading uvu's closing summary, for test/all.ts.

/**
 * uvu exits 0 when a `before` hook throws: its tests are counted but not run ("Total: 4, Passed: 0"). A run
 * where passed + skipped falls short of the total is a failure here, so a broken setup cannot pass.
 */
export function unrun(output: string): string | undefined {
  const plain = output.replace(/\x1b\[[0-9;]*m/g, '');
  const num = (label: string) => Number(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'm').exec(plain)?.[1] ?? NaN);
  const [total, passed, skipped] = [num('Total'), num('Passed'), num('Skipped')];
  if (Number.isNaN(total)) return 'no uvu summary (the runner crashed?)';
  return passed + (skipped || 0) < total ? `only ${passed} of ${total} tests ran and passed (a before hook failed?)` : undefined;
}
