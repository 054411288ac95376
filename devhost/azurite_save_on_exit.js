// Preloaded into Azurite (NODE_OPTIONS=--require) by devhost/azurite.py.
//
// Azurite keeps its metadata in LokiJS databases and saves them every 5 s and on
// close. Its SIGTERM shutdown closes the blob and queue services through their GC
// loops, and the process can end before those closes have saved anything, losing
// up to 5 s of writes when `wa-archive dev` is killed (devhost/lifeline.py sends
// SIGTERM). This saves every database first, on the first SIGTERM or SIGINT; the
// pending file writes keep node alive until they finish. It also keeps a second
// SIGTERM from hitting node's default action in the middle of the save.
"use strict";

const fs = require("fs");
const path = require("path");

function lokiFor(script) {
  try {
    // Resolve from Azurite's own folder: the very module Azurite will load.
    const from = path.dirname(fs.realpathSync(script));
    return require(require.resolve("lokijs", { paths: [from] }));
  } catch (err) {
    return null;
  }
}

const Loki = process.argv[1] ? lokiFor(process.argv[1]) : null;
if (Loki && typeof Loki.prototype.loadDatabase === "function") {
  const databases = new Set();
  const load = Loki.prototype.loadDatabase;
  Loki.prototype.loadDatabase = function (...args) {
    databases.add(this);
    return load.apply(this, args);
  };
  let saving = false;
  const saveAll = () => {
    if (saving) {
      return;
    }
    saving = true;
    for (const db of databases) {
      try {
        db.saveDatabase(() => {});
      } catch (err) {
        // Azurite's own close still tries; nothing more to do here.
      }
    }
  };
  process.prependListener("SIGTERM", saveAll);
  process.prependListener("SIGINT", saveAll);
}
