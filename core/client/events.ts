/** A tiny event emitter for KafkaJS-style instrumentation events (`consumer.on(consumer.events.FETCH, …)`). */
export interface InstrumentationEvent<T = unknown> { id: number; type: string; timestamp: number; payload: T }

export class Emitter {
  private readonly listeners = new Map<string, Set<(event: InstrumentationEvent) => void>>()
  private nextId = 0

  on(type: string, listener: (event: InstrumentationEvent<any>) => void): () => void {
    let set = this.listeners.get(type)
    if (!set) this.listeners.set(type, (set = new Set()))
    set.add(listener)
    return () => { set!.delete(listener) }
  }

  /** Whether anyone listens (so a payload is built only when it will be seen). */
  has(type: string): boolean {
    return (this.listeners.get(type)?.size ?? 0) > 0
  }

  emit(type: string, payload: unknown): void {
    const set = this.listeners.get(type)
    if (!set || set.size === 0) return
    const event = { id: this.nextId++, type, timestamp: Date.now(), payload }
    for (const listener of set) {
      try { listener(event) } catch { /* a listener's failure is not the client's */ }
    }
  }
}
