import { transferText } from '../../cli/commands/inspect';
import { storeTransferOf } from '../../cli/snapshot';

describe('store transfers in status', () => {
  test('a heartbeat that reports a transfer is read and shown with bytes, share and rate', () => {
    const t = storeTransferOf('trainPolicy', { store: { phase: 'upload', doneBytes: 1.2e9, totalBytes: 4e9, bytesPerSecond: 1.5e8 } });
    expect(t).toEqual({ activity: 'trainPolicy', phase: 'upload', doneBytes: 1.2e9, totalBytes: 4e9, bytesPerSecond: 1.5e8 });
    expect(transferText(t!)).toBe('uploading 1200 MB of 4000 MB (30%) at 150 MB/s · trainPolicy');
    expect(transferText(storeTransferOf('sampleShard', { store: { phase: 'download', doneBytes: 5e6, totalBytes: 0, bytesPerSecond: 1e6 } })!)).toBe(
      'downloading 5.0 MB of 0.0 MB at 1.0 MB/s · sampleShard',
    );
  });

  test('other heartbeats (a trainer step, nothing, garbage) are not transfers', () => {
    expect(storeTransferOf('trainPolicy', { step: 3, total: 10 })).toBeNull();
    expect(storeTransferOf('trainPolicy', null)).toBeNull();
    expect(storeTransferOf('x', { store: { phase: 'sideways' } })).toBeNull();
    expect(storeTransferOf('x', { store: { phase: 'upload', doneBytes: 'lots' } })?.doneBytes).toBe(0);
  });
});
