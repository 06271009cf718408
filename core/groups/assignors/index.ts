import type { Assignor } from './types.ts'
import { rangeAssignor } from './range.ts'
import { roundRobinAssignor } from './roundrobin.ts'
import { cooperativeStickyAssignor } from './cooperative-sticky.ts'

export * from './types.ts'
export { rangeAssignor } from './range.ts'
export { roundRobinAssignor } from './roundrobin.ts'
export { cooperativeStickyAssignor } from './cooperative-sticky.ts'

/** The server-side assignors by their Kafka config names. */
export const ASSIGNORS: Readonly<Record<string, Assignor>> = Object.freeze({
  range: rangeAssignor,
  roundrobin: roundRobinAssignor,
  'cooperative-sticky': cooperativeStickyAssignor,
})

const ALIASES: Record<string, string> = {
  range: 'range',
  rangeassignor: 'range',
  roundrobin: 'roundrobin',
  roundrobinassignor: 'roundrobin',
  roundrobinassigner: 'roundrobin',
  cooperativesticky: 'cooperative-sticky',
  cooperativestickyassignor: 'cooperative-sticky',
}

/**
 * The canonical assignor name for `name` ('range', 'roundrobin', 'cooperative-sticky'), also
 * accepting Kafka's class names (RangeAssignor, org.apache.kafka…RoundRobinAssignor, …) and
 * KafkaJS's RoundRobinAssigner; undefined when unknown.
 */
export function resolveAssignorName(name: string): string | undefined {
  if (typeof name !== 'string') return undefined
  const simple = name.slice(name.lastIndexOf('.') + 1).toLowerCase().replace(/[^a-z]/g, '')
  return ALIASES[simple]
}

export function getAssignor(name: string): Assignor | undefined {
  const canonical = resolveAssignorName(name)
  return canonical === undefined ? undefined : ASSIGNORS[canonical]
}
