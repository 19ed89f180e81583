// Replays hints to members that answer again, a batch at a time and waiting
// for each batch, so a returning member is not flooded while it also takes
// live traffic.
import { PeerStatus, WriteCause } from '../gen/kvring/v1/peer.js';
import type { Logger } from '../log.js';
import { inRootSpan } from '../tracing/tracer.js';
import type { NodeMetrics } from '../metrics.js';
import type { Hints } from './hints.js';
import type { ReplicaHandle } from './replica.js';

const BATCH = 128;

export class HintReplayer {
  private running = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly hints: Hints,
    private readonly handleOf: (member: string) => ReplicaHandle | undefined,
    private readonly log: Logger,
    private readonly metrics: NodeMetrics,
    intervalMs = 250,
  ) {
    this.timer = setInterval(() => void this.replayAll(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One pass over every member with hints; also used at shutdown. */
  async replayAll(deadline = Infinity): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (const member of this.hints.membersWithHints()) {
        const h = this.handleOf(member);
        if (h === undefined) {
          this.hints.keepOnly(member, '\0gone'); // no longer a member: nothing to hand over
          continue;
        }
        while (
          h.up &&
          h.incarnation !== '' &&
          this.hints.pending(member) > 0 &&
          performance.now() < deadline
        ) {
          this.hints.keepOnly(member, h.incarnation);
          const batch = this.hints.take(member, BATCH);
          if (batch.length === 0) break;
          const results = await inRootSpan(
            'hint replay',
            { 'kvring.peer': member, 'kvring.hints': batch.length },
            () =>
              Promise.allSettled(
                batch.map((hint) => h.write(hint, hint.incarnation, WriteCause.WRITE_CAUSE_HINT)),
              ),
          );
          let failed = 0;
          results.forEach((r, i) => {
            if (r.status === 'fulfilled' && r.value.status === PeerStatus.PEER_STATUS_OK) {
              this.metrics.hints.inc({ outcome: 'replayed' });
            } else if (
              r.status === 'fulfilled' &&
              (r.value.status === PeerStatus.PEER_STATUS_STALE_INCARNATION ||
                // No longer an owner: the key's new owners got it by stream or write.
                r.value.status === PeerStatus.PEER_STATUS_NOT_OWNER)
            ) {
              this.metrics.hints.inc({ outcome: 'dropped' });
            } else {
              failed++;
              this.hints.restore(member, batch[i]!);
            }
          });
          if (failed > 0) break; // try again next round
        }
      }
    } catch (err) {
      this.log.warn({ err }, 'hint replay failed');
    } finally {
      this.running = false;
    }
  }
}
