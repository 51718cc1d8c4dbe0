/**
 * Python's `uuid.getnode()`, which pywry mixes into its fallback SQLCipher key. Python asks libuuid
 * first (Linux, and macOS before 3.13), and libuuid takes the hardware address of the first network
 * interface, in the kernel's order, that has an IPv4 address and a non-zero address; macOS's Python
 * 3.13+ parses `ifconfig` and prefers a universally administered address. Both are read here from
 * the same interface list Node gets from getifaddrs, without running a program.
 */
import { networkInterfaces, platform } from "node:os";

type Interfaces = ReturnType<typeof networkInterfaces>;

/** The 48-bit node as Python prints it (decimal), or null when the machine has no hardware address. */
export function pythonNode(interfaces: Interfaces = networkInterfaces(), os: NodeJS.Platform = platform()): bigint | null {
  const macs = hardwareAddresses(interfaces);
  if (macs.length === 0) return null;
  if (os === "darwin") return macs.find(isUniversal) ?? macs[0] ?? null;
  return macs[0] ?? null;
}

/** Non-zero addresses of interfaces with an IPv4 address, in the order the OS lists interfaces. */
function hardwareAddresses(interfaces: Interfaces): bigint[] {
  const found: bigint[] = [];
  for (const entries of Object.values(interfaces)) {
    const ipv4 = entries?.find((entry) => entry.family === "IPv4" && !entry.internal);
    if (!ipv4) continue;
    const node = BigInt(`0x${ipv4.mac.replaceAll(":", "")}`);
    if (node !== 0n) found.push(node);
  }
  return found;
}

// The "locally administered" bit of the first octet (bit 41 of the 48-bit number), as Python tests it.
function isUniversal(node: bigint): boolean {
  return (node & (1n << 41n)) === 0n;
}
