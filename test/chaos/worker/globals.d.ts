declare const __CHAOS_SHORT__: boolean
