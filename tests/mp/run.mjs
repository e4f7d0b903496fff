// Runs a script on MicroPython's WebAssembly port under node:
//   node run.mjs MICROPYTHON_MJS FOLDER SCRIPT
// FOLDER's files go to the root of the port's in-memory filesystem (the
// current directory, as on the micro:bit) and microbit.py beside this file
// (the fake micro:bit) to /lib, on sys.path; then SCRIPT runs. stdin and
// stdout are the serial line: the fake reads stdin through
// globalThis.mb_read(n): up to n bytes as latin-1 text, blocking until some
// arrive; null at the end of input. An uncaught Python error exits with 1.
import fs from "node:fs";
import path from "node:path";
import url from "node:url";

const [mjs, folder, script] = process.argv.slice(2);
const { loadMicroPython } = await import(url.pathToFileURL(mjs).href);
globalThis.mb_read = (n) => {
  const buf = Buffer.alloc(n);
  for (;;) {
    try {
      const k = fs.readSync(0, buf, 0, n, null);
      return k === 0 ? null : buf.subarray(0, k).toString("latin1");
    } catch (e) {
      if (e.code === "EAGAIN") continue;  // a non-blocking stdin: wait on
      if (e.code === "EOF") return null;
      throw e;
    }
  }
};
const write = (fd) => (data) => { fs.writeSync(fd, data); };
// (the heap of this build grows on demand: no heap size to mimic a board's)
const mp = await loadMicroPython({ stdout: write(1), stderr: write(2), linebuffer: false });
mp.FS.mkdir("/lib");
mp.FS.writeFile("/lib/microbit.py", fs.readFileSync(path.join(path.dirname(url.fileURLToPath(import.meta.url)), "microbit.py")));
for (const name of fs.readdirSync(folder)) {
  mp.FS.writeFile("/" + name, fs.readFileSync(path.join(folder, name)));
}
try {
  mp.runPython(fs.readFileSync(script, "utf8"));
} catch (e) {
  fs.writeSync(2, String(e.message || e) + "\n");
  process.exit(1);
}
