/**
 * @huggingface/tokenizers 0.2 borrows JavaScript's regex and whitespace semantics where HF
 * `tokenizers` (Rust, what transformers runs) uses Unicode's; the token ids then differ. Patched to
 * Rust's, checked by test/unit/parity.test.ts against ids from the Rust library:
 * - `Whitespace` pre-tokenizer, `\w+|[^\w\s]+`: JavaScript's `\w` is ASCII, so é, Greek, CJK and
 *   Arabic letters split off as unknown pieces; Rust's `\w` is Unicode (alphabetic, marks, digits,
 *   connector punctuation, join controls).
 * - `WhitespaceSplit` and the `Strip` normalizer: JavaScript's whitespace includes U+FEFF (a BOM)
 *   and excludes U+0085 (next line); Rust's is Unicode White_Space, the other way round.
 */
import { StripNormalizer, WhitespacePreTokenizer, WhitespaceSplitPreTokenizer } from '@huggingface/tokenizers';

const WORD = '\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}';
const WHITESPACE_OR_WORD = new RegExp(`[${WORD}]+|[^${WORD}\\p{White_Space}]+`, 'gu');

let applied = false;

export function applyRustSemantics(): void {
  if (applied) return;
  applied = true;
  StripNormalizer.prototype.normalize = function (this: StripNormalizer, text: string): string {
    const { strip_left, strip_right } = this.config as { strip_left?: boolean; strip_right?: boolean };
    if (strip_left) text = text.replace(/^\p{White_Space}+/u, '');
    if (strip_right) text = text.replace(/\p{White_Space}+$/u, '');
    return text;
  };
  WhitespacePreTokenizer.prototype.pre_tokenize_text = (text: string) => text.match(WHITESPACE_OR_WORD) ?? [];
  WhitespaceSplitPreTokenizer.prototype.pre_tokenize_text = (text: string) => text.match(/\P{White_Space}+/gu) ?? [];
}
