// The repo's config files (nginx, pgbouncer, prometheus) are templates with ${NAME} placeholders, rendered
// by the native stack here and by envsubst in the containers, so both run the same configuration.
const PLACEHOLDER = /\$\{([A-Z][A-Z0-9_]*)\}/g;

/** Replace every ${NAME}; a placeholder without a value is an error, never an empty string. */
export function renderTemplate(text: string, vars: Readonly<Record<string, string | number>>): string {
  const missing = new Set<string>();
  const out = text.replace(PLACEHOLDER, (_, name: string) => {
    const value = vars[name];
    if (value === undefined) {
      missing.add(name);
      return '';
    }
    return String(value);
  });
  if (missing.size > 0) throw new Error(`template needs values for: ${[...missing].join(', ')}`);
  return out;
}
