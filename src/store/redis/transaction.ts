/**
 * How the Redis store changes anything: each change reads under WATCH and writes in one
 * MULTI/EXEC together with its audit entries (a small Lua script inside the same MULTI numbers
 * each entry and appends it to the stream), and starts over when another client changed a
 * watched key in between. Changes from one store run one at a time: WATCH belongs to the
 * connection.
 */
import type { ChainableCommander, Redis } from "ioredis";
import { StoreError } from "../../core/errors.js";
import type { AuditEvent } from "../audit.js";
import { auditFields } from "./codec.js";
import { REDIS_SCHEMA_VERSION, type RedisKeys } from "./keys.js";

const MAX_ATTEMPTS = 50;

/** Numbers the entry and appends it to the stream; runs inside the change's MULTI. */
const AUDIT_SCRIPT = `
local id = redis.call('INCR', KEYS[1])
local args = {'XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'id', tostring(id)}
for i = 2, #ARGV do args[#args + 1] = ARGV[i] end
return redis.call(unpack(args))
`;

/** One attempt at a change: reads under WATCH, then queued writes and audit entries. */
export class Change {
  readonly writes: Array<(multi: ChainableCommander) => void> = [];
  readonly audits: AuditEvent[] = [];
  constructor(private readonly client: Redis) {}

  /** Watch keys before reading them: if anyone changes one before EXEC, the change starts over. */
  async watch(...keys: string[]): Promise<void> {
    if (keys.length > 0) await this.client.watch(...keys);
  }

  write(step: (multi: ChainableCommander) => void): void {
    this.writes.push(step);
  }

  audit(event: AuditEvent): void {
    this.audits.push(event);
  }
}

export interface ChangeSettings {
  client: Redis;
  keys: RedisKeys;
  /** The server as it may be shown, for messages. */
  location: string;
  now: () => number;
  actor: string | null;
  /** The audit stream keeps about this many entries (XADD MAXLEN ~). */
  auditMaxLength: number;
  /** Told of an error thrown while a change read (before anything was written). */
  onReadFailure: (error: unknown) => void;
}

export class Changes {
  /** The changes queued on this connection, run one after another. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly settings: ChangeSettings) {}

  /**
   * Runs one change: `plan` reads (watching what it reads) and queues writes and audit entries;
   * they are then applied in one MULTI/EXEC. Starts over when a watched key changed meanwhile.
   * Rejects with what failed, as the driver reported it.
   */
  run<T>(plan: (change: Change) => Promise<T>): Promise<T> {
    const attempt = (): Promise<T> => this.attempts(plan);
    const queued = this.queue.then(attempt, attempt);
    this.queue = queued.catch(() => undefined);
    return queued;
  }

  /** Settles once every queued change has. */
  async settled(): Promise<void> {
    await this.queue.catch(() => undefined);
  }

  private async attempts<T>(plan: (change: Change) => Promise<T>): Promise<T> {
    const { client, keys } = this.settings;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
      const change = new Change(client);
      let result: T;
      try {
        result = await plan(change);
      } catch (error) {
        this.settings.onReadFailure(error);
        await client.unwatch().catch(() => undefined);
        throw error;
      }
      if (change.writes.length === 0 && change.audits.length === 0) {
        await client.unwatch();
        return result;
      }
      const multi = client.multi();
      multi.hset(keys.meta(), "schema_version", String(REDIS_SCHEMA_VERSION));
      for (const write of change.writes) write(multi);
      for (const event of change.audits) this.queueAudit(multi, event);
      const replies = await multi.exec();
      if (replies === null) {
        // Someone else changed what this change read: read again and redo it.
        await delay(Math.min(5 * attempt, 50) * Math.random());
        continue;
      }
      const failed = replies.find(([error]) => error);
      if (failed?.[0]) throw failed[0];
      return result;
    }
    throw new StoreError(`Redis at ${this.settings.location}: gave up after ${MAX_ATTEMPTS} attempts, other clients kept changing the same keys`);
  }

  private queueAudit(multi: ChainableCommander, event: AuditEvent): void {
    const { keys, now, actor, auditMaxLength } = this.settings;
    multi.eval(AUDIT_SCRIPT, 2, keys.auditSeq(), keys.audit(), String(auditMaxLength), ...auditFields(now(), event, actor));
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
