import fc from 'fast-check';
import { initialState, Limits, parseResetDuration, settle, tryTake } from '../../activities/openai/bucket';

describe('shared token bucket', () => {
  test('no sliding window ever admits more than the limit, and throughput stays near it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 100, max: 5000 }),
        fc.constantFrom(0, 0.03, 0.2),
        fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 50, maxLength: 300 }),
        (perWindow, windowMs, burstShare, gaps) => {
          const l: Limits = { requestsPerWindow: perWindow, tokensPerWindow: 1e12, windowMs, maxInFlight: 1e9, burstShare };
          let s = initialState(l, 0);
          let now = 0;
          const admitted: number[] = [];
          for (const g of gaps) {
            now += g;
            for (;;) {
              const r = tryTake(s, l, now, 1, { id: String(now), until: now + 1 });
              s = r.state;
              if (r.ok) {
                admitted.push(now + r.delayMs);
                break;
              }
              now += r.waitMs;
            }
          }
          for (let i = 0; i < admitted.length; i++) {
            let n = 0;
            for (let j = i; j < admitted.length && admitted[j] < admitted[i] + windowMs; j++) n++;
            expect(n).toBeLessThanOrEqual(perWindow);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  test('requests that reach the server up to arrivalSlackMs late still never exceed the limit in a window', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 200, max: 5000 }),
        fc.integer({ min: 0, max: 300 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 30 }), fc.double({ min: 0, max: 1, noNaN: true })), { minLength: 50, maxLength: 300 }),
        (perWindow, windowMs, slack, steps) => {
          const l: Limits = { requestsPerWindow: perWindow, tokensPerWindow: 1e12, windowMs, maxInFlight: 1e9, burstShare: 0.01, arrivalSlackMs: slack };
          let s = initialState(l, 0);
          let now = 0;
          const arrivals: number[] = [];
          for (const [gap, late] of steps) {
            now += gap;
            for (;;) {
              const r = tryTake(s, l, now, 1, { id: String(now), until: now + 1 });
              s = r.state;
              if (r.ok) {
                arrivals.push(now + r.delayMs + late * slack); // any delay up to the slack
                break;
              }
              now += r.waitMs;
            }
          }
          arrivals.sort((a, b) => a - b);
          for (let i = 0; i < arrivals.length; i++) {
            let n = 0;
            for (let j = i; j < arrivals.length && arrivals[j] < arrivals[i] + windowMs; j++) n++;
            expect(n).toBeLessThanOrEqual(perWindow);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  test('a limit below the burst share still admits requests (capacity is at least one)', () => {
    const l: Limits = { requestsPerWindow: 2, tokensPerWindow: 1e9, windowMs: 1000, maxInFlight: 10, burstShare: 0.03 };
    let s = initialState(l, 0);
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = tryTake(s, l, 0, 10, { id: String(i), until: 100 });
      if (!r.ok) throw new Error('expected a reservation');
      s = r.state;
      delays.push(r.delayMs);
    }
    // one now, then one slot per (L - C)/W: reservations queue in order
    expect(delays[0]).toBe(0);
    expect(delays[1]).toBe(1000);
    expect(delays[3]).toBe(3000);
  });

  test('token estimates are corrected by usage; in-flight leases are capped', () => {
    const l: Limits = { requestsPerWindow: 1000, tokensPerWindow: 1000, windowMs: 1000, maxInFlight: 1, burstShare: 0.5 };
    const a = tryTake(initialState(l, 0), l, 0, 300, { id: 'a', until: 1000 });
    expect(a.ok).toBe(true);
    const b = tryTake(a.state, l, 0, 10, { id: 'b', until: 1000 });
    expect(b.ok).toBe(false); // one in flight already
    if (!a.ok) throw new Error('unreachable');
    const s = settle(a.state, l, 0, 'a', 300, 100);
    expect(s.tokens).toBeCloseTo(400);
    expect(s.inFlight).toEqual([]);
  });

  test('rate-limit reset durations', () => {
    expect(parseResetDuration('6m0s')).toBe(360000);
    expect(parseResetDuration('1.5s')).toBe(1500);
    expect(parseResetDuration('200ms')).toBe(200);
    expect(parseResetDuration('2')).toBe(2000);
    expect(parseResetDuration(undefined)).toBeNull();
  });
});
