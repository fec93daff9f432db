//! Running a provider as a worker process over the worker protocol. (Being written.)
