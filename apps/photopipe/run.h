/* run.h - one photopipe run: the pipeline, its stages, signals, the summary.
 *
 * DESIGN
 * The run is a conveyor pipeline of three stages, fed by a source thread:
 *
 *   source --> [q] download --> [q] resize --> [q] upload --> sink
 *   (listing    (curl / read,   (libvips,      (atomic file
 *    or watch)   2x cores)       cores)         or PUT, 2x cores)
 *
 * Every queue is bounded (--capacity), so a fast stage waits for a slow one
 * instead of piling up downloads in memory: at most about
 * capacity[resize] + workers[download] + workers[resize] photos' worth of
 * source bytes exist at once.
 *
 * Items are pp_photo pointers owned by the run's registry, never by the
 * pipeline: the pipeline's destroy callback only releases a photo's buffers
 * and, if it was still pending, records that it was canceled.  So whatever
 * the pipeline drops (failed, filtered, canceled), the registry still knows
 * every photo listed and can say what became of it; the summary adds up by
 * construction: listed = done + skipped + failed + canceled + not started.
 *
 * Ctrl-C.  The SIGINT handler only does async-signal-safe things:
 *   1st: sets `stop` and writes a byte to a pipe (wakes a watch loop); the
 *        source stops feeding (the rest of a listing is recorded as "not
 *        started"), its return closes the input, and everything already fed
 *        drains through all three stages: in-flight photos finish.
 *   2nd: cv_pipeline_cancel_async() plus pp_net_cancel(): transfers abort,
 *        back-off sleeps end, local writes stop between chunks and remove
 *        their temporary file; queued photos are dropped (canceled).
 *   3rd: last resort when something is stuck (say, fsync on a dead NFS
 *        server): removes the temporary files being written and _exit(130).
 * Either way no partial file is left in a local album: photos are only ever
 * renamed into place whole.
 *
 * The stages' bodies are steps.c's, shared with the worker processes of a
 * distributed run.  With --broker the pipeline is instead one stage whose
 * workers are other processes (broker.h): this process lists and names the
 * photos, and applies their results to the registry and the manifest.
 */
#ifndef PP_RUN_H
#define PP_RUN_H

#include "options.h"

/* Runs the whole thing as `o` says.  Returns the process exit code: 0 every
 * photo made it, 1 some did not (or a fatal error), 2 usage. */
int pp_run(const pp_options *o);

/* `photopipe demo`: sample photos in a temporary folder, then pp_run(). */
int pp_demo(pp_options *o);

#endif /* PP_RUN_H */
