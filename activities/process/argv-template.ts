/**
 * `{{name}}` placeholders in command templates (argv lists, never a shell string) and model names.
 * Pure: an unknown placeholder is an error naming the setting and the names it may use.
 */

export type TemplateVars = Record<string, string>;

const PLACEHOLDER = /\{\{\s*([\w.-]+)\s*\}\}/g;

export class TemplateError extends Error {}

export function renderTemplate(text: string, vars: TemplateVars, setting: string): string {
  return text.replace(PLACEHOLDER, (m, k: string) => {
    if (!(k in vars))
      throw new TemplateError(
        `${setting}: unknown placeholder ${m}; use ${Object.keys(vars)
          .map((v) => `{{${v}}}`)
          .join(', ')}`,
      );
    return vars[k];
  });
}

/** Each argument rendered on its own: a value with spaces stays one argument. */
export function renderArgv(argv: string[], vars: TemplateVars, setting: string): string[] {
  return argv.map((a, i) => renderTemplate(a, vars, `${setting}[${i}]`));
}

/** The placeholders a template uses (for validation before anything runs). */
export function placeholdersOf(texts: string[]): string[] {
  const out = new Set<string>();
  for (const t of texts) for (const m of t.matchAll(PLACEHOLDER)) out.add(m[1]);
  return [...out];
}
