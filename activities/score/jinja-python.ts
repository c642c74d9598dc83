/**
 * Chat templates are written for Python's Jinja2 (what transformers' apply_chat_template runs);
 * @huggingface/jinja 0.5.x differs from it where it borrows JavaScript semantics, and that changes
 * the rendered text, so the reward. This shim, applied once to the library's Interpreter, restores
 * Python's behaviour for what we found in real templates:
 *
 * - `==` / `!=` compare like Python: values of different types are unequal (`'' != false` is true in
 *   Python, false in JS: Llama-2-style templates dropped an empty system turn), numbers and booleans
 *   compare numerically (`true == 1`), lists and dicts by value.
 * - `| trim`, `.strip()`, `.lstrip()`, `.rstrip()` strip Python's whitespace set (which includes
 *   U+0085 and U+001C–U+001F and excludes the BOM U+FEFF, unlike JavaScript's `trim`), and take an
 *   optional set of characters as Python's do.
 * - Booleans print as `True` / `False`, as Python's str() does.
 * Not changed: `{{ none }}` prints nothing (Python: "None"), lists and dicts print as JSON (Python:
 * their repr), and `~` joins booleans as true/false; chat templates we know do not print these.
 *
 * Reported upstream in my notes (huggingface/huggingface.js, packages/jinja).
 */
import { Environment, Interpreter } from '@huggingface/jinja';

const PY_WS = '\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const escapeClass = (chars: string) => chars.replace(/[\]\\^-]/g, '\\$&');

export function pyStrip(s: string, chars?: string | null, side: 'both' | 'left' | 'right' = 'both'): string {
  const set = chars === undefined || chars === null ? PY_WS : escapeClass(chars);
  if (set === '') return s;
  let out = s;
  if (side !== 'right') out = out.replace(new RegExp(`^[${set}]+`, 'u'), '');
  if (side !== 'left') out = out.replace(new RegExp(`[${set}]+$`, 'u'), '');
  return out;
}

interface RuntimeValue {
  type: string;
  value: unknown;
}

const NUMERIC = new Set(['IntegerValue', 'FloatValue', 'BooleanValue']);

export function pyEquals(a: RuntimeValue, b: RuntimeValue): boolean {
  if (NUMERIC.has(a.type) && NUMERIC.has(b.type)) return Number(a.value) === Number(b.value);
  if (a.type === 'StringValue' && b.type === 'StringValue') return a.value === b.value;
  const seq = (v: RuntimeValue) => v.type === 'ArrayValue' || v.type === 'TupleValue';
  if (seq(a) && seq(b)) {
    if (a.type !== b.type) return false;
    const x = a.value as RuntimeValue[];
    const y = b.value as RuntimeValue[];
    return x.length === y.length && x.every((v, i) => pyEquals(v, y[i]));
  }
  if (a.type === 'ObjectValue' && b.type === 'ObjectValue') {
    const x = a.value as Map<string, RuntimeValue>;
    const y = b.value as Map<string, RuntimeValue>;
    return x.size === y.size && [...x].every(([k, v]) => y.has(k) && pyEquals(v, y.get(k)!));
  }
  // None == None, Undefined == Undefined; any other pair of types is unequal in Python.
  return a.type === b.type && (a.type === 'NullValue' || a.type === 'UndefinedValue');
}

let applied = false;

export function applyPythonSemantics(): void {
  if (applied) return;
  applied = true;
  const env = new Environment();
  const sample = env.set('s', '') as unknown as RuntimeValue & { builtins: Map<string, unknown> };
  const StringValue = sample.constructor as new (v: string) => RuntimeValue;
  const BooleanValue = (env.set('b', true) as unknown as RuntimeValue).constructor as new (v: boolean) => RuntimeValue;
  const FunctionValue = (sample.builtins.get('upper') as object).constructor as new (fn: (args: RuntimeValue[]) => RuntimeValue) => RuntimeValue;

  const proto = Interpreter.prototype as unknown as {
    evaluate(node: unknown, env: unknown): RuntimeValue;
    evaluateBinaryExpression(node: { operator: { value: string }; left: unknown; right: unknown }, env: unknown): RuntimeValue;
    applyFilter(operand: RuntimeValue, filter: { type: string; value?: string }, env: unknown): RuntimeValue;
  };
  const binary = proto.evaluateBinaryExpression;
  proto.evaluateBinaryExpression = function (node, e) {
    const op = node.operator.value;
    if (op !== '==' && op !== '!=') return binary.call(this, node, e);
    const eq = pyEquals(this.evaluate(node.left, e), this.evaluate(node.right, e));
    return new BooleanValue(op === '==' ? eq : !eq);
  };
  const filter = proto.applyFilter;
  proto.applyFilter = function (operand, f, e) {
    if (f.type === 'Identifier' && f.value === 'trim' && operand.type === 'StringValue') return new StringValue(pyStrip(operand.value as string));
    return filter.call(this, operand, f, e);
  };
  (BooleanValue.prototype as { toString(): string }).toString = function (this: RuntimeValue) {
    return this.value ? 'True' : 'False';
  };
  const desc = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(sample), 'builtins')!;
  Object.defineProperty(Object.getPrototypeOf(sample), 'builtins', {
    configurable: true,
    get(this: RuntimeValue) {
      const m = desc.get!.call(this) as Map<string, unknown> & { pyStrip?: boolean };
      if (!m.pyStrip) {
        const s = this.value as string;
        const chars = (args: RuntimeValue[]) => (args[0] && args[0].type === 'StringValue' ? (args[0].value as string) : null);
        m.set('strip', new FunctionValue((args) => new StringValue(pyStrip(s, chars(args)))));
        m.set('lstrip', new FunctionValue((args) => new StringValue(pyStrip(s, chars(args), 'left'))));
        m.set('rstrip', new FunctionValue((args) => new StringValue(pyStrip(s, chars(args), 'right'))));
        m.pyStrip = true;
      }
      return m;
    },
  });
}
