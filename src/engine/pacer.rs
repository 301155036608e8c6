//! Open-loop schedule, pure: the intended send time of each request index.
