/** A progress line with rate and ETA on a terminal; silent when stderr is not a TTY. */
import type { Io } from './command.ts';

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  const mm = String(m).padStart(2, '0'), ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export interface Progress {
  update(done: number): void;
  /** Print a line above the bar (errors) without garbling it. */
  log(line: string): void;
  finish(): void;
}

export function createProgress(io: Io, total: number, unit = 'img'): Progress {
  const tty = io.stderr.isTTY === true;
  const start = performance.now();
  let last = 0, shown = false, done = 0;
  const render = () => {
    const elapsed = (performance.now() - start) / 1000;
    const rate = done / Math.max(elapsed, 1e-9);
    const width = Math.max(10, Math.min(40, (io.stderr.columns ?? 80) - 50));
    const filled = total > 0 ? Math.round((done / total) * width) : 0;
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
    io.stderr.write(`\r${bar} ${done}/${total} ${rate.toFixed(1)} ${unit}/s ETA ${clock((total - done) / rate)}\x1b[K`);
    shown = true;
  };
  return {
    update(n) {
      done = n;
      const now = performance.now();
      if (tty && (now - last > 100 || n === total)) {
        last = now;
        render();
      }
    },
    log(line) {
      if (tty && shown) io.stderr.write('\r\x1b[K');
      io.stderr.write(`${line}\n`);
      if (tty && shown) render();
    },
    finish() {
      if (tty && shown) io.stderr.write('\n');
    },
  };
}
