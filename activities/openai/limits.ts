/** Request and token limits of an OpenAI-compatible endpoint, shared by every worker that calls it. */
import { z } from 'zod';
import { SharedRateLimiter } from './shared-limiter';

export function limitsSchema(defaults: { requestsPerMinute: number; tokensPerMinute: number; maxInFlight: number }) {
  return z
    .strictObject({
      requestsPerMinute: z
        .number()
        .positive()
        .default(defaults.requestsPerMinute)
        .describe('Requests per minute across all workers of the campaign (lowered to what the server advertises in x-ratelimit-limit-requests).'),
      tokensPerMinute: z
        .number()
        .positive()
        .default(defaults.tokensPerMinute)
        .describe('Tokens (prompt + max completion) per minute across all workers (lowered to what the server advertises in x-ratelimit-limit-tokens).'),
      maxInFlight: z.number().int().positive().default(defaults.maxInFlight).describe('Requests in flight across all workers of the campaign.'),
      windowSeconds: z.number().positive().default(60).describe('Window of the limits in seconds (60 for per-minute limits; smaller in tests).'),
      arrivalSlackSeconds: z
        .number()
        .min(0)
        .optional()
        .describe(
          'How late a request may reach the server (event-loop and network delays bunch requests sent apart) without the server seeing more than the limit in a window; default 4% of the window, between 0.1 and 2 s.',
        ),
    })
    .default({ ...defaults, windowSeconds: 60 })
    .describe('Rate limits of the endpoint, shared by every worker of the campaign.');
}

export type EndpointLimits = z.infer<ReturnType<typeof limitsSchema>>;

export function arrivalSlackMs(l: EndpointLimits): number {
  return (l.arrivalSlackSeconds ?? Math.min(2, Math.max(0.1, l.windowSeconds * 0.04))) * 1000;
}

/** The limiter whose state lives in `dir` (on the storage every worker shares). */
export function sharedLimiter(dir: string, l: EndpointLimits, timeoutSeconds: number): SharedRateLimiter {
  return new SharedRateLimiter(
    dir,
    {
      requestsPerWindow: l.requestsPerMinute * (l.windowSeconds / 60),
      tokensPerWindow: l.tokensPerMinute * (l.windowSeconds / 60),
      windowMs: l.windowSeconds * 1000,
      maxInFlight: l.maxInFlight,
      burstShare: 0.01,
      arrivalSlackMs: arrivalSlackMs(l),
    },
    timeoutSeconds * 1000 + 5000,
  );
}
