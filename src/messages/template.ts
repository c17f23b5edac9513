const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g;

export type Rendered = { ok: true; text: string } | { ok: false; missing: string };

/** Fills `{{name}}` placeholders from `variables`; a placeholder without a value is an error. */
export function renderTemplate(template: string, variables: Record<string, unknown>): Rendered {
  let missing: string | undefined;
  const text = template.replace(PLACEHOLDER, (whole, name: string) => {
    const value = variables[name];
    if (value === undefined || value === null || typeof value === 'object') {
      missing ??= name;
      return whole;
    }
    return String(value);
  });
  return missing === undefined ? { ok: true, text } : { ok: false, missing };
}

export function placeholdersOf(template: string): string[] {
  return [...new Set([...template.matchAll(PLACEHOLDER)].map((m) => m[1]!))];
}
