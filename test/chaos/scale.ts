/** How hard the chaos suite pushes: EDGELOG_CHAOS=short (CI) or full (the default for `npm run test:chaos`). */
export const SHORT = process.env.EDGELOG_CHAOS === 'short'

/** `short` in CI, `full` otherwise. */
export function scaled<T>(short: T, full: T): T {
  return SHORT ? short : full
}

/** One line of what a chaos test tried and what it found, printed where `npm run test:chaos` shows it. */
export function report(suite: string, figures: Record<string, number | string>): void {
  const parts = Object.entries(figures).map(([k, v]) => `${k}=${v}`)
  console.log(`chaos: ${suite}: ${parts.join(' ')}`)
}
