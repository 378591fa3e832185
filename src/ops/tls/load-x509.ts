import { webcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';

type X509Module = typeof X509;

let loaded: Promise<X509Module> | undefined;

/**
 * @peculiar/x509, loaded on first use (only `tls init` and `up` make certificates, so other
 * commands do not pay for it) with Node's WebCrypto as its provider.
 *
 * It resolves its algorithms through tsyringe, which refuses to load without the Reflect
 * metadata API (normally the `reflect-metadata` package). tsyringe only reads constructor
 * parameter types (x509's classes have none) and stores injection tokens (x509 uses none), so
 * the three functions it calls are provided here, and only when nothing else provides them.
 */
export function loadX509(): Promise<X509Module> {
  loaded ??= (async () => {
    installReflectMetadata();
    const x509 = await import('@peculiar/x509');
    x509.cryptoProvider.set(webcrypto);
    return x509;
  })();
  return loaded;
}

interface ReflectMetadata {
  getOwnMetadata?: (key: unknown, target: object) => unknown;
  getMetadata?: (key: unknown, target: object) => unknown;
  defineMetadata?: (key: unknown, value: unknown, target: object) => void;
}

function installReflectMetadata(): void {
  const reflect = Reflect as typeof Reflect & ReflectMetadata;
  if (reflect.getMetadata && reflect.getOwnMetadata && reflect.defineMetadata) return;
  const store = new WeakMap<object, Map<unknown, unknown>>();
  const own = (key: unknown, target: object) => store.get(target)?.get(key);
  reflect.getOwnMetadata ??= own;
  reflect.getMetadata ??= (key, target) => {
    for (let current: object | null = target; current; current = Object.getPrototypeOf(current) as object | null) {
      const value = own(key, current);
      if (value !== undefined) return value;
    }
    return undefined;
  };
  reflect.defineMetadata ??= (key, value, target) => {
    const entries = store.get(target) ?? new Map<unknown, unknown>();
    entries.set(key, value);
    store.set(target, entries);
  };
}
