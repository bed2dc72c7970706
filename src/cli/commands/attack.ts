/**
 * `attack`: adversarial examples against a bundle (docs/adversarial.md): PGD/APGD through the attack graph,
 * or the score-based Square attack; naive or adaptive (BPDA, EOT) against a defence. Writes the full-size
 * adversarial PNG and a JSON report per image, and summary.json.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeAtomic } from '../../atomic-files.ts';
import { TagbooruError } from '../../errors.ts';
import { hasTrainingModel } from '../../explain/variants.ts';
import { IMAGE_EXTENSIONS } from '../../image/index.ts';
import { toPng } from '../../image/encode.ts';
import { readBundle } from '../../infer/bundle.ts';
import { parseFraction } from '../../option-values.ts';
import { METHODS, type AttackSettings } from '../../robust/attack.ts';
import { openAttackDefence } from '../../robust/defences.ts';
import { GOAL_USAGE, LOSS_DEFAULTS, parseGoal, tagThresholds } from '../../robust/goals.ts';
import { NORMS } from '../../robust/pgd.ts';
import { attackFiles, databaseImages, summarise, type FileResult } from '../../robust/run.ts';
import { openVictim } from '../../robust/victim.ts';
import { drawsMembers, openDrawVictim, parseDrawObjective } from '../../robust/draw.ts';
import { attackDrawFiles, objectiveName, summariseDraw, type DrawFileResult } from '../../robust/draw-run.ts';
import { choiceOption, defineCommand, numberOption } from '../command.ts';
import { collectAll } from '../inputs.ts';
import { createProgress } from '../progress.ts';

const DATABASE = /\.(sqlite|sqlite3|db)$/i;

const pct = (p: number) => `${(100 * p).toFixed(1)} %`;

/** A random-mode ensemble is attacked undefended, at the model's resolution; its draw needs no sampling (EOT is exact). */
function refuseDrawOptions(dir: string, o: { defence: string | null; eot: number; space: string }): void {
  if (o.defence) throw new TagbooruError('E_USAGE', `${dir} draws a member per image (--combine random): it is attacked without an input defence here; drop --defence (${o.defence})`);
  if (o.eot > 1) throw new TagbooruError('E_USAGE', `${dir} draws a member per image: the attack takes the exact expectation over the draw (every member's loss, weighted by its odds), so --eot has nothing to sample`);
  if (o.space !== 'model') throw new TagbooruError('E_USAGE', `${dir} draws a member per image: attack it with --space model`);
}

export const attackCommand = defineCommand({
  name: 'attack',
  usage: 'attack <bundle> <images… | database> --goal <goal> --out <dir> [options]',
  options: {
    goal: { type: 'string', placeholder: 'goal', description: `${GOAL_USAGE}` },
    out: { type: 'string', short: 'o', placeholder: 'dir', description: 'output folder: adversarial PNGs, a JSON report per image, summary.json' },
    norm: { type: 'string', placeholder: NORMS.join('|'), description: 'the threat model\'s norm', default: 'linf' },
    eps: { type: 'string', placeholder: 'ε', description: 'the budget in [0, 1] pixel units, a number or a fraction (L∞ up to 1; L2 up to √(3·w·h))', default: '4/255' },
    steps: { type: 'string', placeholder: 'n', description: 'gradient steps per restart (pgd, apgd) or queries (square)', default: '50' },
    'step-size': { type: 'string', placeholder: 'α', description: 'step size (a number or fraction; default 2.5ε/steps for pgd, 2ε to start for apgd)' },
    restarts: { type: 'string', placeholder: 'n', description: 'random restarts; each image keeps its best', default: '1' },
    method: { type: 'string', placeholder: METHODS.join('|'), description: 'pgd, apgd (step-size schedule with momentum), square (score-based, L∞, needs no weights)', default: 'pgd' },
    defence: { type: 'string', placeholder: 'spec', description: 'evaluate through this input-transformation defence (as tag --defence: jpeg:quality=75, median:size=3, denoiser, none; default: the bundle\'s own)' },
    bpda: { type: 'boolean', description: 'adaptive: attack through the defence (its backward, else BPDA straight-through)' },
    eot: { type: 'string', placeholder: 'n', description: 'adaptive: average each gradient over n draws of a randomised defence', default: '1' },
    space: { type: 'string', placeholder: 'model|full', description: 'where the ε-ball lives: the model-resolution image (mapped back onto the original afterwards) or the original itself', default: 'model' },
    margin: { type: 'string', placeholder: 'logits', description: 'push a target tag this far past its threshold', default: String(LOSS_DEFAULTS.margin) },
    seed: { type: 'string', placeholder: 'n', description: 'random starts, restarts and defence draws', default: '0' },
    batch: { type: 'string', placeholder: 'n', description: 'images attacked together', default: '8' },
    threads: { type: 'string', placeholder: 'n', description: 'ONNX Runtime threads (default: all cores)' },
    draw: { type: 'string', placeholder: 'expected|member:<k>', description: 'a --combine random ensemble: descend the exact expectation over the member draw (default), or member k\'s loss alone (naive)' },
  },
  details: [
    'Success: hide/add flip the target tag (strict: and no other tag), hide-all leaves no tag, untargeted flips at least one.',
    'It is judged at the model\'s resolution and again on the full-size PNG preprocessed again (see docs/adversarial.md).',
    'A --combine random ensemble is judged by the probability of success over its member draw (docs/adversarial.md).',
    'Exit status: 0 when done, 2 for a usage error.',
  ].join('\n'),

  async run({ values: v, positionals }, io) {
    const [bundleDir, ...inputs] = positionals;
    if (!bundleDir || inputs.length === 0) throw new TagbooruError('E_USAGE', 'give the bundle and at least one image, folder or training database');
    if (!v.goal) throw new TagbooruError('E_USAGE', `Expected ${GOAL_USAGE} for --goal but received none`);
    if (!v.out) throw new TagbooruError('E_USAGE', 'Expected an output folder for --out but received none');
    const norm = choiceOption('norm', v.norm, NORMS)!;
    const method = choiceOption('method', v.method, METHODS)!;
    if (method === 'square' && norm !== 'linf') throw new TagbooruError('E_USAGE', `Expected linf for --norm with --method square (the Square attack here is L∞) but received "${norm}"`);
    const steps = numberOption('steps', v.steps, 1, 1_000_000, true)!;
    const eot = numberOption('eot', v.eot, 1, 10_000, true)!;
    const bundle = await readBundle(bundleDir);
    if (drawsMembers(bundle)) refuseDrawOptions(bundle.dir, { defence: null, eot, space: v.space ?? 'model' });
    if (eot > 1 && !v.bpda) throw new TagbooruError('E_USAGE', '--eot averages over the defence in the adaptive attack: add --bpda (and --defence)');
    const m = bundle.manifest;
    const maxEps = norm === 'linf' ? 1 : Math.sqrt(3 * m.preprocess.width * m.preprocess.height);
    const eps = parseFraction('--eps', v.eps!, 0, maxEps, true);
    const goal = parseGoal(v.goal, m.tags);
    const defence = await openAttackDefence(bundle, v.defence);
    if (v.bpda && !defence) throw new TagbooruError('E_USAGE', '--bpda attacks through a defence: name one with --defence (the bundle has none)');
    const space = choiceOption('space', v.space, ['model', 'full'] as const)!;
    if (space === 'full' && defence) throw new TagbooruError('E_USAGE', '--space full attacks the undefended model only (a defence acts at the model\'s resolution): drop --defence or use --space model');
    if (drawsMembers(bundle)) refuseDrawOptions(bundle.dir, { defence: defence?.name ?? null, eot, space });
    else if (method !== 'square' && !hasTrainingModel(m)) {
      throw new TagbooruError('E_MODEL', `${bundle.dir} has no training weights (weights.safetensors with a spec or architecture), so it has no input gradient for --method ${method}: use --method square (score-based)`);
    }
    const settings: AttackSettings = {
      method, norm, eps, steps, restarts: numberOption('restarts', v.restarts, 1, 1000, true)!,
      stepSize: v['step-size'] === undefined ? undefined : parseFraction('--step-size', v['step-size'], 0, maxEps, true),
      threat: { defence, adaptive: v.bpda ?? false, eot, rng: Math.random },
      seed: numberOption('seed', v.seed, 0, 2 ** 32 - 1, true)!,
      loss: { ...LOSS_DEFAULTS, margin: numberOption('margin', v.margin, 0, 100)! },
    };
    const batch = numberOption('batch', v.batch, 1, 4096, true)!;
    const threads = numberOption('threads', v.threads, 1, 256, true);

    const files: string[] = [];
    for (const input of inputs) {
      if (DATABASE.test(input)) files.push(...databaseImages(input));
      else files.push(...(await collectAll([input], { recursive: false, extensions: [...IMAGE_EXTENSIONS], stdin: io.stdin })));
    }
    await fs.mkdir(v.out, { recursive: true });
    const progress = createProgress(io, files.length);
    const stems = new Map<string, number>();
    let done = 0;
    /** The adversarial PNG and its report, under a name unique in the run. */
    const write = async (r: { report: { file: string }; image: FileResult['image'] }, verdict: string) => {
      const stem = path.parse(r.report.file).name, seen = stems.get(stem) ?? 0;
      stems.set(stem, seen + 1);
      const name = seen ? `${stem}-${seen + 1}` : stem;
      await writeAtomic(path.join(v.out!, `${name}.png`), await toPng(r.image.data, r.image.width, r.image.height, 3));
      await writeAtomic(path.join(v.out!, `${name}.json`), `${JSON.stringify({ ...r.report, png: `${name}.png` }, null, 1)}\n`);
      progress.log(`${r.report.file}: ${verdict}`);
      progress.update(++done);
    };
    const settingsSummary = { bundle: bundle.dir, goal: v.goal, space, method, norm, eps, epsIn255: eps * 255, steps, restarts: settings.restarts };
    const finish = async <S extends { attacked: number; images: number; successRate: number; fullSizeSuccessRate: number }>(summary: S, what: string) => {
      progress.finish();
      await writeAtomic(path.join(v.out!, 'summary.json'), `${JSON.stringify(summary, null, 1)}\n`);
      io.stdout.write(`${summary.attacked} of ${summary.images} attacked: ${what} ${(100 * summary.successRate).toFixed(1)} % at the model's resolution, ${(100 * summary.fullSizeSuccessRate).toFixed(1)} % at full size\n`);
      return 0;
    };

    if (drawsMembers(bundle)) {
      const objective = parseDrawObjective(v.draw ?? 'expected', m.ensemble!.members.length);
      const victim = await openDrawVictim(bundle, { threads, gradients: method === 'square' ? [] : objective.kind === 'member' ? [objective.member] : 'all' });
      try {
        const results = await attackDrawFiles(victim, files.map((file) => ({ file, goal })), m.tags, tagThresholds(m), settings, batch, objective, (r: DrawFileResult) =>
          write(r, r.report.applies ? `success over the draw ${pct(r.report.model.successProbability)} at the model's resolution, ${pct(r.report.fullSize.successProbability)} at full size` : 'not applicable'));
        return await finish({ ...settingsSummary, combine: 'random', objective: objectiveName(objective), members: victim.names.map((name, k) => ({ name, weight: victim.weights[k] })), seed: settings.seed, ...summariseDraw(results.map((r) => r.report)) }, 'success over the draw');
      } finally {
        await victim.close();
      }
    }
    if (v.draw !== undefined) throw new TagbooruError('E_USAGE', `--draw applies to an ensemble built with --combine random; ${bundle.dir} answers with ${m.ensemble ? `a ${m.ensemble.combine} of its members` : 'one model'}`);
    const victim = await openVictim(bundle, { threads, gradient: method !== 'square' });
    try {
      const results = await attackFiles(victim, files.map((file) => ({ file, goal })), m.tags, tagThresholds(m), settings, batch, space, (r: FileResult) =>
        write(r, `${!r.report.applies ? 'not applicable' : `model ${r.report.model.success ? 'fooled' : 'held'}, full size ${r.report.fullSize.success ? 'fooled' : 'held'}`} (L∞ ${r.report.model.linf}/255)`));
      return await finish({
        ...settingsSummary, defence: defence?.name ?? null, mode: defence ? (settings.threat.adaptive ? 'adaptive' : 'naive') : 'undefended', eot, seed: settings.seed,
        ...summarise(results.map((r) => r.report)),
      }, 'success');
    } finally {
      await victim.close();
    }
  },
});
