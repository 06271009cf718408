/** Metadata keys (see docs/architecture.md, "Metadata keys"). Offsets are padded so key order is numeric order. */
import { padOffset, type StreamId } from '../storage.ts'

export const streamId = (topicId: string, partition: number): StreamId => `${topicId}/${partition}`

export const keys = {
  topic: (name: string) => `topic/${name}`,
  topicPrefix: 'topic/',
  head: (stream: StreamId) => `head/${stream}`,
  segment: (stream: StreamId, baseOffset: number) => `seg/${stream}/${padOffset(baseOffset)}`,
  segmentPrefix: (stream: StreamId) => `seg/${stream}/`,
  producer: (stream: StreamId, producerId: number) => `pid/${stream}/${producerId}`,
  producerPrefix: (stream: StreamId) => `pid/${stream}/`,
  producerIds: 'producer-ids',
  clusterId: 'cluster-id',
  /** Everything a topic's partitions keep in metadata, for topic deletion. */
  topicDataPrefixes: (topicId: string) => [`head/${topicId}/`, `seg/${topicId}/`, `pid/${topicId}/`, `replica/${topicId}/`, `fwd/${topicId}/`, `replication/${topicId}/`, `txnp/${topicId}/`, `abrt/${topicId}/`],
}
