/* conveyor.h - the whole public API of conveyor in one include. */
#ifndef CONVEYOR_H
#define CONVEYOR_H

#include "conveyor/version.h"
#include "conveyor/error.h"
#include "conveyor/queue.h"
#include "conveyor/pipeline.h"

#endif /* CONVEYOR_H */
