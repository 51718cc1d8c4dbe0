/**
 * bin/pywry-auth, but running the CLI compiled with the tests (.build-test/src) rather than dist/:
 * for the heavy concurrency variant, whose thousands of processes take minutes, so that an
 * `npm run build` meanwhile (which starts from an empty dist/) cannot pull modules from under it.
 * Same code, same process per operation.
 */
import { run } from "../../../src/cli/main.js";

void run(process.argv);
