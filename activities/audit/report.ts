/**
 * `alignloop report`: a campaign as one self-contained HTML file (no network at view time): Chart.js
 * (MIT, well kept, canvas charts with bar, line and stacked charts out of the box; its UMD build is
 * ~210 KB and is inlined) and the data, both embedded. Plots: reward mean and spread per iteration,
 * best-of-n, examples kept and dropped by reason, chosen vs rejected length, judge cost and calls,
 * stage timings, a composite labeler's member agreement and length bias; and the iteration table; with eval:, an evaluation section (win rate with its interval,
 * LC win rate, length, reward; the best checkpoint marked). The page reports what it drew in #status (for tests).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../../config/errors';
import { iterationFigures, IterationFigures } from './diff';
import { manifestFile, manifestIterations, readCheckedManifest } from './manifests';
import { bestOf } from '../eval/best';
import type { EvalSummary } from '../eval/summary';

interface IterationRow extends IterationFigures {
  timings: Record<string, number>;
  prompts: number;
  samples: number;
  checkpoint: string;
  /** Iterations that overlap (schedule.maxPolicyLag): versions its samples' checkpoints were behind the one it trained from. */
  policyLag?: { min: number; max: number };
  /** eval: the iteration's evaluation, when it was evaluated. */
  eval: EvalSummary | null;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
/** JSON inside <script>: no "</script>" or "<!--" can end it early. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c');

export async function campaignRows(root: string, campaignId: string): Promise<IterationRow[]> {
  const dir = path.join(root, campaignId);
  if (!fs.existsSync(dir)) throw new UserError(`no artifacts for campaign ${campaignId} under ${root}`);
  const rows: IterationRow[] = [];
  for (const it of manifestIterations(root, campaignId)) {
    const f = await iterationFigures(root, campaignId, it);
    const m = readCheckedManifest(manifestFile(root, campaignId, it));
    rows.push({
      ...f,
      timings: m.timings_seconds,
      prompts: m.counts.prompts_in,
      samples: m.counts.samples,
      checkpoint: String(m.lineage.checkpoint_out.sha256).slice(0, 12),
      ...(m.policy_lag ? { policyLag: { min: Number(m.policy_lag.min), max: Number(m.policy_lag.max) } } : {}),
      eval: m.eval ?? null,
    });
  }
  return rows;
}

const PAGE_SCRIPT = String.raw`
(function () {
  var errors = 0;
  window.addEventListener('error', function () { errors++; });
  var D = window.REPORT;
  var its = D.rows.map(function (r) { return 'iter ' + r.iteration; });
  var common = { animation: false, responsive: false, plugins: { legend: { position: 'bottom' } } };
  var COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  function chart(id, cfg) { cfg.options = Object.assign({}, common, cfg.options || {}); return new Chart(document.getElementById(id), cfg); }
  function col(f) { return D.rows.map(f); }
  var drawn = 0;
  try {
    chart('reward', { type: 'line', data: { labels: its, datasets: [
      { label: 'mean', data: col(function (r) { return r.reward.mean; }), borderColor: COLORS[0] },
      { label: 'mean - std', data: col(function (r) { return r.reward.mean - r.reward.std; }), borderColor: COLORS[0], borderDash: [4, 4] },
      { label: 'mean + std', data: col(function (r) { return r.reward.mean + r.reward.std; }), borderColor: COLORS[0], borderDash: [4, 4] },
      { label: 'p10', data: col(function (r) { return r.reward.p10; }), borderColor: COLORS[7] },
      { label: 'p90', data: col(function (r) { return r.reward.p90; }), borderColor: COLORS[7] } ] } }); drawn++;
    chart('bestofn', { type: 'line', data: { labels: its, datasets: [
      { label: 'best-of-n (mean over prompts)', data: col(function (r) { return r.bestOfN; }), borderColor: COLORS[2] },
      { label: 'mean reward', data: col(function (r) { return r.reward.mean; }), borderColor: COLORS[0] } ] } }); drawn++;
    var reasons = {};
    D.rows.forEach(function (r) { Object.keys(r.dropped).forEach(function (k) { reasons[k] = true; }); });
    var keptDropped = [{ label: 'examples kept', data: col(function (r) { return r.examples; }), backgroundColor: COLORS[2] }];
    Object.keys(reasons).sort().forEach(function (k, i) {
      keptDropped.push({ label: 'dropped: ' + k, data: col(function (r) { return r.dropped[k] || 0; }), backgroundColor: COLORS[(i + 3) % COLORS.length] });
    });
    chart('kept', { type: 'bar', data: { labels: its, datasets: keptDropped }, options: { scales: { x: { stacked: true }, y: { stacked: true } } } }); drawn++;
    chart('length', { type: 'line', data: { labels: its, datasets: [
      { label: 'chosen (chars)', data: col(function (r) { return r.length.chosen; }), borderColor: COLORS[2] },
      { label: 'rejected (chars)', data: col(function (r) { return r.length.rejected; }), borderColor: COLORS[3] } ] } }); drawn++;
    chart('cost', { type: 'bar', data: { labels: its, datasets: [
      { label: 'judge cost (USD)', data: col(function (r) { return r.cost.usd; }), backgroundColor: COLORS[1], yAxisID: 'y' },
      { label: 'paid judge calls', data: col(function (r) { return r.cost.paidCalls; }), backgroundColor: COLORS[4], yAxisID: 'y1' } ] },
      options: { scales: { y: { position: 'left', beginAtZero: true }, y1: { position: 'right', beginAtZero: true } } } }); drawn++;
    var stages = ['prompts', 'sample', 'score', 'feedback', 'train', 'manifest'];
    chart('timings', { type: 'bar', data: { labels: its, datasets: stages.map(function (s, i) {
      return { label: s + ' (s)', data: col(function (r) { return r.timings[s] || 0; }), backgroundColor: COLORS[i] }; }) },
      options: { scales: { x: { stacked: true }, y: { stacked: true } } } }); drawn++;
    if (document.getElementById('composite')) {
      var pairs = {};
      D.rows.forEach(function (r) { ((r.composite || {}).agreement || []).forEach(function (p) { pairs[p.a + '-' + p.b] = true; }); });
      var agree = Object.keys(pairs).sort().map(function (k, i) {
        return { label: k + ' agreement', data: col(function (r) {
          var p = ((r.composite || {}).agreement || []).filter(function (x) { return x.a + '-' + x.b === k; })[0];
          return p ? p.agreement : null; }), borderColor: COLORS[(i + 5) % COLORS.length] };
      });
      agree.push({ label: 'length-reward corr (before control)', data: col(function (r) { return r.composite ? r.composite.length.corrBefore : null; }), borderColor: COLORS[3], borderDash: [4, 4] });
      agree.push({ label: 'length-reward corr (after control)', data: col(function (r) { return r.composite ? r.composite.length.corrAfter : null; }), borderColor: COLORS[3] });
      chart('composite', { type: 'line', data: { labels: its, datasets: agree } }); drawn++;
    }
    var ev = D.rows.filter(function (r) { return r.eval; });
    if (ev.length) {
      var evIts = ev.map(function (r) { return 'iter ' + r.iteration + (r.iteration === D.best ? ' (best)' : ''); });
      var evCol = function (f) { return ev.map(function (r) { return f(r.eval); }); };
      chart('evalwin', { type: 'line', data: { labels: evIts, datasets: [
        { label: 'win rate vs initial policy', data: evCol(function (e) { return e.winRate; }), borderColor: COLORS[0] },
        { label: '95% CI low', data: evCol(function (e) { return e.winRateCi ? e.winRateCi[0] : null; }), borderColor: COLORS[0], borderDash: [4, 4] },
        { label: '95% CI high', data: evCol(function (e) { return e.winRateCi ? e.winRateCi[1] : null; }), borderColor: COLORS[0], borderDash: [4, 4] },
        { label: 'length-controlled win rate', data: evCol(function (e) { return e.lcWinRate; }), borderColor: COLORS[1] },
        { label: 'even (0.5)', data: evCol(function () { return 0.5; }), borderColor: COLORS[7], borderDash: [2, 2] } ] },
        options: { scales: { y: { min: 0, max: 1 } } } }); drawn++;
      chart('evallen', { type: 'line', data: { labels: evIts, datasets: [
        { label: 'eval answer length (chars)', data: evCol(function (e) { return e.meanLength; }), borderColor: COLORS[2], yAxisID: 'y' },
        { label: 'baseline length (chars)', data: evCol(function (e) { return e.baselineMeanLength; }), borderColor: COLORS[2], borderDash: [4, 4], yAxisID: 'y' },
        { label: 'eval reward mean', data: evCol(function (e) { return e.rewardMean; }), borderColor: COLORS[3], yAxisID: 'y1' },
        { label: 'training reward mean', data: ev.map(function (r) { return r.reward.mean; }), borderColor: COLORS[4], yAxisID: 'y1' } ] },
        options: { scales: { y: { position: 'left' }, y1: { position: 'right' } } } }); drawn++;
    }
  } catch (e) { errors++; console.error(e); }
  // How many canvases hold something other than blank pixels.
  var nonblank = 0;
  Array.prototype.forEach.call(document.querySelectorAll('canvas'), function (c) {
    var px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (var i = 3; i < px.length; i += 4) { if (px[i] !== 0) { nonblank++; return; } }
  });
  var s = document.getElementById('status');
  s.setAttribute('data-charts', String(drawn));
  s.setAttribute('data-nonblank', String(nonblank));
  s.setAttribute('data-errors', String(errors));
  s.textContent = drawn + ' charts drawn';
})();
`;

export async function buildReport(root: string, campaignId: string, chartJs: string): Promise<{ html: string; iterations: number }> {
  const rows = await campaignRows(root, campaignId);
  if (rows.length === 0) throw new UserError(`campaign ${campaignId} has no finished iteration to report yet`);
  const num = (v: unknown, d = 4) => (v === null || v === undefined ? '-' : typeof v !== 'number' || Number.isInteger(v) ? String(v) : v.toFixed(d));
  // Every cell escaped: a manifest's numbers are only numbers if nobody edited it.
  const td = (v: unknown) => `<td>${escapeHtml(String(v))}</td>`;
  const withLag = rows.some((r) => r.policyLag);
  const lag = (r: IterationRow) =>
    !withLag ? '' : td(!r.policyLag ? 0 : r.policyLag.min === r.policyLag.max ? r.policyLag.max : `${r.policyLag.min}-${r.policyLag.max}`);
  const canvas = (id: string, title: string) => `<figure><figcaption>${title}</figcaption><canvas id="${id}" width="560" height="300"></canvas></figure>`;
  // eval: the evaluation section, the best checkpoint marked.
  const best = bestOf(
    rows.map((r) => (r.eval ? { iteration: r.iteration, eval: r.eval, lineage: { checkpoint_out: { path: '', sha256: r.checkpoint } } } : {})),
  );
  const evaluated = rows.filter((r) => r.eval);
  const evalTable = evaluated
    .map((r) => {
      const e = r.eval!;
      const ci = e.winRateCi ? ` [${num(e.winRateCi[0], 3)}, ${num(e.winRateCi[1], 3)}]` : '';
      const isBest = best?.iteration === r.iteration;
      return (
        `<tr${isBest ? ' class="best"' : ''}><td>${escapeHtml(String(r.iteration))}${isBest ? ' <strong>best</strong>' : ''}</td>` +
        `${td(`${num(e.winRate, 3)}${ci}`)}${td(num(e.lcWinRate, 3))}${td(`${e.wins}/${e.losses}/${e.ties}`)}${td(num(e.rewardMean))}${td(num(r.reward.mean))}` +
        `${td(num(e.meanLength, 1))}${td(num(e.baselineMeanLength, 1))}${td(num(e.truncatedShare, 3))}<td><code>${escapeHtml(r.checkpoint)}</code></td></tr>`
      );
    })
    .join('\n');
  const evalSection = evaluated.length
    ? `<h2>Evaluation on held-out prompts</h2>
<p>Each evaluated checkpoint's answers against the initial policy's answers to the same prompts (win = the higher eval reward; ties count half;
95% Wilson interval). Length-controlled win rate: the win rate with the length difference regressed out (AlpacaEval 2 style).${
        best ? ` Best checkpoint by ${escapeHtml(best.by)}: iteration ${escapeHtml(String(best.iteration))}.` : ''
      }</p>
<div class="grid">
${canvas('evalwin', 'Eval win rate vs the initial policy (95% CI) and length-controlled win rate')}
${canvas('evallen', 'Eval answer length vs the baseline; eval and training reward')}
</div>
<table id="eval"><thead><tr><th>iteration</th><th>win rate [95% CI]</th><th>LC win rate</th><th>wins/losses/ties</th><th>eval reward</th><th>training reward</th><th>eval length</th><th>baseline length</th><th>truncated</th><th>checkpoint</th></tr></thead>
<tbody>
${evalTable}
</tbody></table>`
    : '';
  const table = rows
    .map(
      (r) =>
        `<tr>${td(r.iteration)}${td(r.prompts)}${td(r.samples)}${td(r.reward.n)}${td(num(r.reward.mean))}${td(num(r.bestOfN))}` +
        `${td(r.examples)}${td(num(r.length.chosenLongerShare, 3))}${td(num(r.cost.usd))}` +
        `${td(
          num(
            Object.values(r.timings ?? {}).reduce((a, b) => a + Number(b), 0),
            1,
          ),
        )}${lag(r)}<td><code>${escapeHtml(r.checkpoint)}</code></td></tr>`,
    )
    .join('\n');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>alignloop report: ${escapeHtml(campaignId)}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; }
.grid { display: grid; grid-template-columns: repeat(2, 580px); gap: 16px; }
figure { margin: 0; } figcaption { font-weight: 600; margin-bottom: 4px; }
table { border-collapse: collapse; margin-top: 24px; } td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
#status { color: #666; }
tr.best td { background: #eef7ee; }
</style></head><body>
<h1>alignloop report: ${escapeHtml(campaignId)}</h1>
<p>${rows.length} iteration${rows.length === 1 ? '' : 's'}; generated ${escapeHtml(new Date().toISOString())} from the campaign's manifests, scored shards and feedback files.</p>
<div id="status" data-charts="0" data-nonblank="0" data-errors="0">charts not drawn (JavaScript off?)</div>
<div class="grid">
${canvas('reward', 'Reward mean, ±1 std, p10 and p90 per iteration')}
${canvas('bestofn', 'Best-of-n: the best sample per prompt, averaged over prompts')}
${canvas('kept', 'Examples kept and samples/pairs dropped, by reason')}
${canvas('length', 'Chosen vs rejected length (length bias)')}
${canvas('cost', 'Judge cost and paid calls per iteration')}
${canvas('timings', 'Stage timings (seconds)')}
${rows.some((r) => r.composite) ? canvas('composite', "Composite labeler: members' pairwise agreement, length bias of the combined reward") : ''}
</div>
<table><thead><tr><th>iteration</th><th>prompts</th><th>samples</th><th>labelled</th><th>reward mean</th><th>best-of-n</th><th>examples</th><th>chosen longer</th><th>judge USD</th><th>wall s</th>${withLag ? '<th title="checkpoint versions its samples were behind the one it trained from">policy lag</th>' : ''}<th>checkpoint</th></tr></thead>
<tbody>
${table}
</tbody></table>
${evalSection}
<script>${chartJs.replace(/<\/script/gi, '<\\/script')}</script>
<script>window.REPORT = ${scriptJson({ campaign: campaignId, rows, best: best?.iteration ?? null })};</script>
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
  return { html, iterations: rows.length };
}
