/** The generated sections of the README sit between `<!-- name:start -->` and `<!-- name:end -->`. */
const markers = (name: string) => [`<!-- ${name}:start -->\n`, `<!-- ${name}:end -->`] as const;

/** The text of a generated section. Throws when its markers are missing. */
export function readSection(readme: string, name: string): string {
  const [start, end] = markers(name);
  const from = readme.indexOf(start);
  const to = readme.indexOf(end);
  if (from < 0 || to < from) throw new Error(`README.md has no ${start.trim()} … ${end} section`);
  return readme.slice(from + start.length, to);
}

/** The README with a generated section replaced. */
export function replaceSection(readme: string, name: string, content: string): string {
  const [start] = markers(name);
  const current = readSection(readme, name);
  return readme.replace(`${start}${current}`, `${start}${content}`);
}
