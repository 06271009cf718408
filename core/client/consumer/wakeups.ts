/** Sleeps that end early when something changes (resume, seek, stop, revoke), so loops react at once. */
export class Wakeups {
  private readonly wakers = new Set<() => void>()

  wakeAll(): void {
    for (const wake of [...this.wakers]) wake()
  }

  /** Waits `ms`, or less when woken. */
  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => { this.wakers.delete(done); clearTimeout(timer); resolve() }
      const timer = setTimeout(done, ms)
      this.wakers.add(done)
    })
  }
}
