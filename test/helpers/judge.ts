import { FakeJudgeServer, FakeJudgeOptions } from '../fakes/openai-judge-server';

/** Fake judge servers for one test file, started on demand and stopped after all its tests. */
export function useFakeJudges(defaults: FakeJudgeOptions = {}): (o?: FakeJudgeOptions) => Promise<FakeJudgeServer> {
  const servers: FakeJudgeServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });
  return async (o = {}) => {
    const s = await new FakeJudgeServer({ apiKey: 'sk-test-123', ...defaults, ...o }).start();
    servers.push(s);
    return s;
  };
}
