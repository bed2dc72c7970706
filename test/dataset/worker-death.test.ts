/** A render worker that dies fails only the image in hand, with E_WORKER and at once; the pool replaces it. */
import { describe, expect, test } from 'vitest';
import { RenderPool } from '../../src/dataset/synthetic/pool.ts';
import { KILLS, killMidCall } from '../helpers/workers.ts';

const request = (index: number) => ({ seed: 1, index, size: 256, masks: true });

describe.each(KILLS)('a render worker, killed by %s', (_, kill) => {
  test('produce() rejects with E_WORKER within a second; the next call succeeds on a new worker', async () => {
    const pool = await RenderPool.start(1);
    try {
      const error = await killMidCall('a render worker', () => pool.produce(request(0)), kill);
      expect(error.message).toBe('a render worker stopped (exit code 1) with 1 request unanswered; a new one is starting: try again');
      const again = await pool.produce(request(0));
      expect(again).toMatchObject({ index: 0, png: expect.any(Uint8Array) as unknown });
      expect(pool.respawns).toBe(1);
    } finally {
      await pool.close();
    }
  });
});
