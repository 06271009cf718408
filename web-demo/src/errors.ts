/**
 * Typed errors, explained in words: every failure edgelog reports carries Kafka's error name in
 * `code`; the demo shows the name, what it means for the person at the keyboard, and the
 * server's own message.
 */
import { h } from './dom.ts'

const WORDS: Record<string, string> = {
  UNKNOWN_TOPIC_OR_PARTITION: 'That topic or partition does not exist in this store. Create the topic first, or pick a partition below its partition count.',
  TOPIC_ALREADY_EXISTS: 'A topic with this name already exists here. Topic names are unique: pick another name, or use the existing topic.',
  INVALID_TOPIC_EXCEPTION: 'Topic names are 1 to 249 characters of letters, digits, dots, underscores and hyphens, and not "." or "..".',
  INVALID_PARTITIONS: 'Partitions can only be added, never removed, and a topic needs at least one.',
  INVALID_CONFIG: 'One of the topic settings is not valid (unknown name or value out of range).',
  OFFSET_OUT_OF_RANGE: 'The offset asked for is not in the log: before the log start (removed by retention or compaction) or past the high watermark.',
  MESSAGE_TOO_LARGE: 'The record is larger than the topic allows (max.message.bytes).',
  RECORD_LIST_TOO_LARGE: 'Too many records, or too many bytes, in one request.',
  CORRUPT_MESSAGE: 'The record batch failed its checks (CRC or lengths) and was refused; nothing was stored.',
  INVALID_RECORD: 'The log refused this record (for example a compacted topic needs a key on every record).',
  NETWORK_EXCEPTION: 'The edge could not be reached. You may be offline; the browser log still works, and records for followed topics wait in the outbox.',
  REQUEST_TIMED_OUT: 'The request took too long. It may or may not have been applied; an idempotent producer can retry it safely.',
  LEADER_NOT_AVAILABLE: 'This topic has not been synced from the edge yet. Go online once so the browser learns the topic.',
  NOT_LEADER_OR_FOLLOWER: 'This is a read replica: records for it are written at the edge (a followed topic takes them through the outbox).',
  UNAUTHENTICATED: 'The edge asked for a token: this deployment needs one (EDGELOG_TOKENS).',
  TOPIC_AUTHORIZATION_FAILED: 'The token may not do this on that topic.',
  GROUP_AUTHORIZATION_FAILED: 'The token may not use that consumer group.',
  GROUP_ID_NOT_FOUND: 'No consumer group of that name exists: it has no members and no committed offsets.',
  NON_EMPTY_GROUP: 'The group still has members: it can be deleted or reset only when empty.',
  INVALID_GROUP_ID: 'A group id must be a non-empty string.',
  FENCED_MEMBER_EPOCH: 'The group moved on (a rebalance) while this consumer was away; it rejoins by itself.',
  UNKNOWN_MEMBER_ID: 'The group forgot this consumer (its session expired); it rejoins by itself.',
  STORAGE_QUOTA_EXCEEDED: 'The browser has no room left for this origin. Delete topics or lower their retention.',
  STORAGE_ERROR: "The browser's storage failed. Reloading the page usually helps.",
  INCONSISTENT_TOPIC_ID: 'The topic at the edge was deleted and created again: this replica belongs to the old one and stopped.',
  TOPIC_DELETION_DISABLED: 'Deleting topics is turned off in this store (delete.topic.enable).',
  INVALID_REQUEST: 'The request was not well formed.',
  CLOSED: 'This client was closed. Reload the page.',
}

/** What a code means, in words a newcomer can act on. */
export function explain(code: string | undefined): string {
  return (code && WORDS[code]) ?? 'Something went wrong (see the message below).'
}

export interface ShownError { code: string; words: string; message: string; retriable: boolean }

/** Any thrown value as what the demo shows. */
export function describeError(error: unknown): ShownError {
  const e = error as { code?: unknown; message?: unknown; retriable?: unknown } | undefined
  const code = typeof e?.code === 'string' ? e.code : 'UNKNOWN_SERVER_ERROR'
  return {
    code,
    words: explain(code),
    message: typeof e?.message === 'string' ? e.message : String(error),
    retriable: e?.retriable === true,
  }
}

/** The error box: the code, the words, the message; `role=alert` so screen readers hear it. */
export function renderError(error: unknown, where: string): HTMLElement {
  const shown = describeError(error)
  return h('div', { class: 'error', role: 'alert' },
    h('strong', {}, `${where}: `, h('code', {}, shown.code)),
    h('p', {}, shown.words),
    h('p', { class: 'muted' }, shown.message, shown.retriable ? ' (retriable: trying again may work)' : ''),
  )
}
