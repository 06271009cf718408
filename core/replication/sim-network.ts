/**
 * A simulated network between the nodes of an in-memory cluster, for tests and benchmarks: it
 * delivers `Transport` calls to the node's handler, and can stop a node, cut the link between
 * two nodes (both ways), or slow it. A call over a cut link or to a stopped node fails with
 * NETWORK_EXCEPTION; a link cut (or a node stopped) while the call runs loses the answer — the
 * caller cannot tell whether it was applied, as with a real network.
 */
import { EdgelogError } from '../errors.ts'
import type { BrokerId, BrokerRpc, ControllerRpc, Transport } from './types.ts'

export const brokerNode = (id: BrokerId) => `broker:${id}`
export const CONTROLLER_NODE = 'controller'

export class SimNetwork {
  private readonly handlers = new Map<string, object>()
  private readonly cuts = new Set<string>()
  private readonly delays = new Map<string, number>()
  /** Calls delivered, refused, and answers lost: what a test reports. */
  readonly stats = { calls: 0, refused: 0, answersLost: 0 }

  /** The node answers calls with `handler` (again, after a restart). */
  start(node: string, handler: object): void { this.handlers.set(node, handler) }
  stop(node: string): void { this.handlers.delete(node) }
  isUp(node: string): boolean { return this.handlers.has(node) }

  cut(a: string, b: string): void { this.cuts.add(link(a, b)) }
  heal(a: string, b: string): void { this.cuts.delete(link(a, b)) }
  isCut(a: string, b: string): boolean { return this.cuts.has(link(a, b)) }
  /** Each way of the link takes `ms` more (0: back to normal). */
  slow(a: string, b: string, ms: number): void {
    if (ms > 0) this.delays.set(link(a, b), ms)
    else this.delays.delete(link(a, b))
  }
  healAll(): void {
    this.cuts.clear()
    this.delays.clear()
  }

  reachable(from: string, to: string): boolean { return this.handlers.has(to) && !this.cuts.has(link(from, to)) }

  /** How node `from` reaches the others. */
  transport(from: string): Transport {
    return {
      broker: (id) => this.proxy<BrokerRpc>(from, brokerNode(id)),
      controller: () => this.proxy<ControllerRpc>(from, CONTROLLER_NODE),
    }
  }

  private proxy<T extends object>(from: string, to: string): T {
    return new Proxy({} as T, {
      get: (_target, method) => (...args: unknown[]) => this.call(from, to, String(method), args),
    })
  }

  private async call(from: string, to: string, method: string, args: unknown[]): Promise<unknown> {
    if (!this.reachable(from, to)) {
      this.stats.refused++
      throw unreachable(from, to)
    }
    await this.delay(from, to)
    const handler = this.handlers.get(to) as Record<string, (...a: unknown[]) => Promise<unknown>> | undefined
    if (!handler || this.cuts.has(link(from, to))) {
      this.stats.refused++
      throw unreachable(from, to)
    }
    this.stats.calls++
    const result = await handler[method](...args)
    await this.delay(to, from)
    // The answer crosses the link back: lost if it was cut, or the node stopped, meanwhile.
    if (this.handlers.get(to) !== handler || this.cuts.has(link(from, to))) {
      this.stats.answersLost++
      throw new EdgelogError('NETWORK_EXCEPTION', `The answer of ${to} to ${from} (${method}) was lost`)
    }
    return result
  }

  private delay(a: string, b: string): Promise<void> | undefined {
    const ms = this.delays.get(link(a, b))
    return ms ? new Promise((resolve) => setTimeout(resolve, ms)) : undefined
  }
}

function link(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`
}

function unreachable(from: string, to: string): EdgelogError {
  return new EdgelogError('NETWORK_EXCEPTION', `${to} cannot be reached from ${from}`)
}
