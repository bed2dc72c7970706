/** `tag --save-txt`: a caption file beside each image, and a count of what became of them. */
import path from 'node:path';
import { TagbooruError, errorMessage } from '../errors.ts';
import { writeAtomic } from '../atomic-files.ts';
import { readRegularTextIfExists } from '../regular-files.ts';
import { CAPTION_DEFAULTS, compileCaption, mergeCaption, type CaptionOptions, type ExistingCaptionPolicy } from '../infer/caption.ts';
import type { TagResult } from '../infer/tagger.ts';

export interface CaptionFileOptions {
  readonly caption: CaptionOptions;
  readonly existing: ExistingCaptionPolicy;
  /** `.txt` by default. */
  readonly extension?: string;
}

/** What became of one image's caption. */
type Outcome = 'new' | 'merged' | 'overwritten' | 'kept' | 'failed';

export class CaptionFiles {
  private readonly counts: Record<Outcome, number> = { new: 0, merged: 0, overwritten: 0, kept: 0, failed: 0 };
  private readonly tagsOf: ReturnType<typeof compileCaption>;
  private readonly extension: string;

  constructor(private readonly options: CaptionFileOptions) {
    this.tagsOf = compileCaption(options.caption);
    this.extension = options.extension ?? CAPTION_DEFAULTS.extension;
  }

  /** Writes the caption of a tagged image; an error names the caption file and is counted. */
  async write(r: TagResult): Promise<void> {
    try {
      this.counts[await this.writeOne(r)]++;
    } catch (e) {
      this.counts.failed++;
      throw e;
    }
  }

  /** An image that could not be tagged gets no caption. */
  failed(): void {
    this.counts.failed++;
  }

  private async writeOne(r: TagResult): Promise<Outcome> {
    const file = path.join(path.dirname(r.file), `${path.parse(r.file).name}${this.extension}`);
    // on a case-insensitive disk `a.PNG` with `--caption-extension .png` is the image itself
    if (file.toLowerCase() === r.file.toLowerCase()) throw new TagbooruError('E_USAGE', `${path.basename(file)}: the caption file would replace the image`);
    const existing = await readRegularTextIfExists(file).catch((e: unknown) => {
      throw new TagbooruError('E_IO', `${path.basename(file)}: ${errorMessage(e)}`, { cause: e });
    });
    const { existing: policy, caption } = this.options;
    const text = mergeCaption(existing, this.tagsOf(r), policy, caption.separator);
    if (text === null) return 'kept';
    // the folder is not synced per caption: a power cut may undo a rename, which leaves the old caption whole
    await writeAtomic(file, `${text}\n`, { syncFolder: false });
    return existing === null ? 'new' : policy === 'overwrite' ? 'overwritten' : 'merged';
  }

  /** `wrote 120 captions (98 new, 22 merged with existing), skipped 3 (existing kept: --existing ignore), 2 failed` */
  summary(): string {
    const c = this.counts;
    const wrote = c.new + c.merged + c.overwritten;
    const kinds = [[c.new, 'new'], [c.merged, 'merged with existing'], [c.overwritten, 'overwritten']] as const;
    const detail = kinds.filter(([n]) => n > 0).map(([n, what]) => `${n} ${what}`).join(', ');
    return [
      `wrote ${wrote} caption${wrote === 1 ? '' : 's'}${detail ? ` (${detail})` : ''}`,
      ...(c.kept > 0 ? [`skipped ${c.kept} (existing kept: --existing ${this.options.existing})`] : []),
      ...(c.failed > 0 ? [`${c.failed} failed`] : []),
    ].join(', ');
  }
}
