import { MemorySessionStore } from "../../src/store/memory.js";
import { describeSessionStore } from "../../src/testing/store-suite.js";

describeSessionStore("MemorySessionStore", (clock) => new MemorySessionStore({ now: () => clock.now }));
