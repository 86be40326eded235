// A command as the guide writes it and as the runner prints it: sh`git -C ${dir} status --porcelain` is a program and its
// arguments (no shell in between), and formatCommand() quotes them back into the line you can paste.
export interface Cmd {
  bin: string;
  args: string[];
}

/** Shell-quote one word so that bash and zsh both read it back unchanged. */
export function quote(word: string): string {
  if (word === '') return "''";
  if (/^[A-Za-z0-9_\-+/:.,@%][A-Za-z0-9_\-+=/:.,@%]*$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A value a command template takes: one argument, or (an array) one argument per item. */
export type Arg = string | number | readonly (string | number)[];

/**
 * A command written as the guide writes it: sh`git -C ${dir} rev-parse ${ref}`. Literal text splits on
 * whitespace; each ${value} is one argument whatever spaces, quotes or `$(…)` it holds, joined to the literal
 * text it touches (`imageTag=${tag}` is one word); an array is one argument per item and stands alone. No
 * shell is involved: nothing is globbed, expanded or re-split, so quotes in the literal text are refused
 * (interpolate the value instead). The runner echoes it back as the pasteable, quoted line.
 */
export function sh(strings: TemplateStringsArray, ...values: Arg[]): Cmd {
  const literal = strings.join(' ');
  if (/['"\\`]|\$[({A-Za-z]/.test(literal))
    throw new Error(`sh: quotes, escapes and $ in the literal text of \`${literal.trim()}\` are not shell here; interpolate the value`);
  const words: string[] = [];
  let word: string | undefined;
  const end = () => {
    if (word !== undefined) words.push(word);
    word = undefined;
  };
  strings.forEach((text, i) => {
    for (const part of text.split(/(\s+)/)) {
      if (/^\s+$/.test(part)) end();
      else if (part) word = (word ?? '') + part;
    }
    if (i >= values.length) return;
    const value = values[i]!;
    if (Array.isArray(value)) {
      const next = strings[i + 1] ?? '';
      if (word !== undefined || (next && !/^\s/.test(next)))
        throw new Error(`sh: an array must stand alone as words in \`${literal.trim()}\``);
      words.push(...value.map(String));
    } else word = (word ?? '') + String(value);
  });
  end();
  if (!words.length) throw new Error('sh: empty command');
  return { bin: words[0]!, args: words.slice(1) };
}

export function formatCommand(bin: string, args: readonly string[]): string {
  return [bin, ...args].map(quote).join(' ');
}
