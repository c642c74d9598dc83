/**
 * Each layer of redact() on its own: every text below is caught by exactly one layer, so turning that
 * layer off makes its test fail (the others overlap on ordinary keys and would hide it).
 */
import { redact, registerSecret } from '../../config/redact';

describe('secrets this process read (registerSecret)', () => {
  // Not key-shaped, no credential name or "Bearer" before it: only the registry knows it is a secret.
  const secret = 'tok_reg1stered9f8e7d6c';

  test('an unregistered value passes through; once registered it is redacted wherever it appears', () => {
    const body = `gateway refused: key ${secret} is not enabled for model m (key=${secret})`;
    expect(redact(`plain ${secret} text`)).toBe(`plain ${secret} text`);
    registerSecret(secret);
    expect(redact(`plain ${secret} text`)).toBe('plain [REDACTED] text');
    expect(redact(body)).not.toContain(secret);
    expect(redact(`${secret}${secret}`)).toBe('[REDACTED][REDACTED]');
  });

  test('short values, empty and missing ones are not registered (they would redact ordinary text)', () => {
    registerSecret('abcde');
    registerSecret('');
    registerSecret(undefined);
    registerSecret(null);
    expect(redact('abcde fghij')).toBe('abcde fghij');
  });
});

describe('credential headers echoed by a server (name: value)', () => {
  test.each([
    ['{"authorization":"Basic dXNlcjpwYXNz"}', '{"authorization":"[REDACTED]"}'],
    ['x-api-key: Zm9vYmFyYmF6cXV1eA', 'x-api-key: [REDACTED]'],
    ["{'api_key': 'Q7w9e8r7t6y5'}", "{'api_key': '[REDACTED]'}"],
    ['openai-api-key=Q7w9e8r7t6y5;', 'openai-api-key=[REDACTED];'],
    ['Access-Token: Q7w9e8r7t6y5, next', 'Access-Token: [REDACTED], next'],
    ['--api-key=Q7w9e8r7t6y5', '--api-key=[REDACTED]'],
  ])('%s', (text, expected) => {
    expect(redact(text)).toBe(expected);
  });
});

describe('bearer tokens in free text', () => {
  test('the token after "Bearer" wherever it appears; short words after it stay', () => {
    expect(redact('upstream said: invalid token Bearer Q7w9e8r7t6y5 (expired)')).toBe('upstream said: invalid token Bearer [REDACTED] (expired)');
    expect(redact('bearer of bad news')).toBe('bearer of bad news');
  });
});

describe('key-shaped tokens', () => {
  test('sk-… keys anywhere in a text, even unregistered and without a header name', () => {
    expect(redact('the key sk-proj_Ab12Cd34Ef56 was revoked')).toBe('the key [REDACTED] was revoked');
    expect(redact('sk-short')).toBe('sk-short');
  });
});
