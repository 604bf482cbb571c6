// Quoting for POSIX sh. Every value that reaches a remote shell goes through quote().

/** Single-quotes a value so sh reads it literally. */
export function quote(value: string): string {
  if (value === '') return "''";
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Joins argv into one shell word list. */
export function argv(...args: string[]): string {
  return args.map(quote).join(' ');
}

/** `NAME=value` assignments for an `env` prefix; names must be shell identifiers. */
export function envAssignments(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`invalid environment name '${k}'`);
      return `${k}=${quote(v)}`;
    })
    .join(' ');
}
