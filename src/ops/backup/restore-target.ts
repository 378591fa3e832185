/** Where recovery should stop. `latest`: replay every archived WAL segment. */
export type RestoreTarget = { latest: true } | { immediate: true } | { time: Date } | { lsn: string } | { xid: string } | { name: string };
