/**
 * Custom search attributes, so `temporal workflow list --query` and the Web UI filter campaigns and
 * iterations: AlignloopCampaign (keyword), AlignloopIteration (int), AlignloopStage (keyword),
 * AlignloopState (keyword). Registered on the embedded server at start; on another cluster the CLI
 * registers them when it may, and otherwise starts campaigns without them (upserting an
 * unregistered attribute would fail every workflow task). No Node imports: workflows use this.
 */
export const SEARCH_ATTRIBUTES = {
  campaign: { name: 'AlignloopCampaign', type: 'KEYWORD' },
  iteration: { name: 'AlignloopIteration', type: 'INT' },
  stage: { name: 'AlignloopStage', type: 'KEYWORD' },
  state: { name: 'AlignloopState', type: 'KEYWORD' },
} as const;

/** `temporal server start-dev --search-attribute` values. */
export const DEV_SERVER_SEARCH_ATTRIBUTES = Object.values(SEARCH_ATTRIBUTES).map((a) => `${a.name}=${a.type === 'INT' ? 'Int' : 'Keyword'}`);
