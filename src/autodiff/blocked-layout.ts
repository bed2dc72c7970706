/**
 * Which values of a graph hold ORT's blocked layout ([N,C/B,H,W,B] under the logical shape [N,C,H,W], see
 * src/graph/nchwc.ts), for graphs on baked weights that keep their maps blocked from one conv to the next,
 * forward and backward (the attack graph). ORT's own layout pass does this for a forward alone, but it puts
 * every map back to NCHW before an op it does not know (the ReLU mask's Greater, ConvTranspose), so the
 * backward paid two reorders per layer. Elementwise ops on operands of one shape do not care about the
 * layout, so rules run them on blocked maps as they are; anything else asks for `nchw` first.
 */
import { add, dim, nchwcConv, relu, reorderInput, reorderOutput, transpose, type ConvOptions, type Graph, type Value } from '../graph/index.ts';

/** What a blocked conv was emitted with, so a ReLU or an Add after it can be emitted as the same conv, fused. */
interface ConvCall {
  readonly x: Value;
  readonly kernel: Value;
  readonly bias: Value | null;
  readonly o: ConvOptions & { sum?: Value; relu?: boolean };
}

export class BlockedLayout {
  private readonly blockedValues = new Set<string>();
  private readonly toNchw = new Map<string, Value>();
  private readonly toBlocked = new Map<string, Value>();
  private readonly convs = new Map<string, ConvCall>();
  private readonly nhwcTwins = new Map<string, Value>();
  /** Gradients already zero wherever the ReLU output they are taken for is: the name of that output. */
  private readonly reluMasked = new Map<string, string>();

  constructor(
    private readonly g: Graph,
    /** The channel block (nchwcBlockSize). */
    readonly block: number,
  ) {}

  /** Whether a map of this many channels can be held blocked. */
  fits(channels: number): boolean {
    return channels % this.block === 0;
  }

  isBlocked(v: Value): boolean {
    return this.blockedValues.has(v.name);
  }

  /** Record that an op (a blocked conv or pool) gave `v` blocked. */
  mark(v: Value): Value {
    this.blockedValues.add(v.name);
    return v;
  }

  /** v in NCHW: reordered once, however many consumers ask. */
  nchw(v: Value): Value {
    if (!this.isBlocked(v)) return v;
    let out = this.toNchw.get(v.name);
    if (!out) {
      out = reorderOutput(this.g, v);
      this.toNchw.set(v.name, out);
      this.toBlocked.set(out.name, v);
    }
    return out;
  }

  /** v blocked when a 4-D map of whole blocks of channels, else NCHW. */
  blocked(v: Value): Value {
    if (this.isBlocked(v) || v.shape.length !== 4 || !this.fits(dim(v.shape, 1))) return v;
    let out = this.toBlocked.get(v.name);
    if (!out) {
      out = this.mark(reorderInput(this.g, v));
      this.toBlocked.set(v.name, out);
      this.toNchw.set(out.name, v);
    }
    return out;
  }

  /** Record that `nhwc` holds the NCHW `v` channels-last (an op that gives NHWC cheaper), and return v. */
  withNhwc(v: Value, nhwc: Value): Value {
    this.nhwcTwins.set(v.name, nhwc);
    return v;
  }

  /** v channels-last: its NHWC twin when an op gave one, else transposed. */
  nhwc(v: Value, name?: string): Value {
    return this.nhwcTwins.get(v.name) ?? transpose(this.g, this.nchw(v), [0, 2, 3, 1], name);
  }

  /** The blocked conv (src/graph/nchwc.ts): x blocked, or NCHW when narrower than a block; the kernel in its layout. */
  conv(x: Value, kernel: Value, bias: Value | null, o: ConvCall['o']): Value {
    const y = this.mark(nchwcConv(this.g, x, kernel, bias, o, this.block));
    this.convs.set(y.name, { x, kernel, bias, o });
    return y;
  }

  /**
   * relu(x), fused into the conv that gave x when there is one: its activation. NOTE: the fused conv is a second
   * node; the first has no reader left and the graph is built with `prune` (a layer reading the conv's own output
   * as well would keep both, and pay the conv twice: not the case in the models here, where BN is folded).
   */
  relu(x: Value, name?: string): Value {
    const c = this.convs.get(x.name);
    if (c && !c.o.relu) return this.conv(c.x, c.kernel, c.bias, { ...c.o, relu: true });
    return this.like(relu(this.g, x, name), x);
  }

  /** Whether v is a ReLU's output (fused into its conv). */
  isRelu(v: Value): boolean {
    return this.convs.get(v.name)?.o.relu === true;
  }

  /** Record that the gradient `grad` for the ReLU output `y` is zero wherever y is: its mask would change nothing. */
  masked(grad: Value, y: Value): Value {
    this.reluMasked.set(grad.name, y.name);
    return grad;
  }

  /** Whether `grad` needs no mask of the ReLU output `y` (see `masked`). */
  isMasked(grad: Value, y: Value): boolean {
    return this.reluMasked.get(grad.name) === y.name;
  }

  /** a + b, fused into the conv that gave one of them when there is one: its in-place sum (as for relu). */
  add(a: Value, b: Value): Value {
    const [p, q] = this.common([a, b]) as [Value, Value];
    for (const [c, other] of [[this.convs.get(q.name), p], [this.convs.get(p.name), q]] as const) {
      if (c && !c.o.relu && !c.o.sum && this.isBlocked(other)) return this.conv(c.x, c.kernel, c.bias, { ...c.o, sum: other });
    }
    return this.like(add(this.g, p, q), p);
  }

  /**
   * Operands of one elementwise op in one layout: NCHW when every operand is or has been reordered to it already
   * (the map before an index MaxPool), else blocked when all can be.
   */
  common(vs: readonly Value[]): Value[] {
    const haveNchw = vs.every((v) => !this.isBlocked(v) || this.toNchw.has(v.name));
    const allFit = vs.every((v) => v.shape.length === 4 && this.fits(dim(v.shape, 1)) && v.shape.join() === vs[0]!.shape.join());
    return vs.map((v) => (!haveNchw && allFit ? this.blocked(v) : this.nchw(v)));
  }

  /** The result of an elementwise op on `common` operands: blocked when they were. */
  like(result: Value, operand: Value): Value {
    return this.isBlocked(operand) ? this.mark(result) : result;
  }
}
