/** A circuit-board-like picture (green board, copper traces, black chips with pins): nothing like a portrait. */
import sharp from 'sharp';

export async function circuitImage(file: string, width = 320, height = 240): Promise<string> {
  let s = 12345;
  const rand = (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s >>> 8) % n;
  };
  const parts: string[] = [`<rect width="${width}" height="${height}" fill="#1d5e2a"/>`];
  for (let i = 0; i < 40; i++) {
    const x = rand(width), y = rand(height), horizontal = rand(2) === 0, len = 30 + rand(120);
    const [x2, y2] = horizontal ? [Math.min(width, x + len), y] : [x, Math.min(height, y + len)];
    parts.push(`<line x1="${x}" y1="${y}" x2="${x2}" y2="${y2}" stroke="#c8a040" stroke-width="${2 + rand(3)}"/>`, `<circle cx="${x2}" cy="${y2}" r="4" fill="#d8d8d0"/>`);
  }
  for (let i = 0; i < 6; i++) {
    const x = rand(width - 60), y = rand(height - 40), w = 30 + rand(30), h = 20 + rand(20);
    for (let p = 4; p < w; p += 6) parts.push(`<rect x="${x + p}" y="${y - 4}" width="3" height="${h + 8}" fill="#bbbbbb"/>`);
    parts.push(`<rect x="${x}" y="${y}" width="${w}" height="${h}" fill="#151515"/>`);
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
  await sharp(Buffer.from(svg)).png().toFile(file);
  return file;
}
