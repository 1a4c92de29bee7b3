/* typed_sort.h: an introsort for one element type, with the comparison
 * inlined. qsort calls its comparator through a pointer for every comparison
 * and, for elements over 32 bytes, sorts pointers and then moves the elements;
 * on the ingest path (every group's rollup input and round cells) that was up
 * to a tenth of the collector's CPU. This sorts in place, allocates nothing,
 * and is O(n log n) in the worst case (quicksort with a median of three,
 * heapsort past 2 log n levels, insertion sort below 17 elements). Not stable.
 *
 *     static inline int before(const struct row *a, const struct row *b);
 *     PK_TYPED_SORT(rows_sort, struct row, before)   // static void rows_sort(struct row *v, size_t n)
 */
#ifndef PK_TYPED_SORT_H
#define PK_TYPED_SORT_H

#include <stddef.h>

#define PK_TYPED_SORT(name, type, before)                                                                       \
    static inline void name##_swap_(type *a, type *b)                                                            \
    {                                                                                                            \
        type t = *a;                                                                                             \
        *a = *b;                                                                                                 \
        *b = t;                                                                                                  \
    }                                                                                                            \
    static void name##_insertion_(type *v, size_t n)                                                             \
    {                                                                                                            \
        for (size_t i = 1; i < n; i++) {                                                                         \
            type x = v[i];                                                                                       \
            size_t j = i;                                                                                        \
            for (; j > 0 && before(&x, &v[j - 1]); j--)                                                          \
                v[j] = v[j - 1];                                                                                 \
            v[j] = x;                                                                                            \
        }                                                                                                        \
    }                                                                                                            \
    static void name##_sift_(type *v, size_t root, size_t n)                                                     \
    {                                                                                                            \
        for (size_t child; (child = 2 * root + 1) < n; root = child) {                                           \
            if (child + 1 < n && before(&v[child], &v[child + 1]))                                               \
                child++;                                                                                         \
            if (!before(&v[root], &v[child]))                                                                    \
                return;                                                                                          \
            name##_swap_(&v[root], &v[child]);                                                                   \
        }                                                                                                        \
    }                                                                                                            \
    static void name##_heap_(type *v, size_t n)                                                                  \
    {                                                                                                            \
        for (size_t i = n / 2; i-- > 0;)                                                                         \
            name##_sift_(v, i, n);                                                                               \
        for (size_t end = n; end-- > 1;) {                                                                       \
            name##_swap_(&v[0], &v[end]);                                                                        \
            name##_sift_(v, 0, end);                                                                             \
        }                                                                                                        \
    }                                                                                                            \
    static void name##_intro_(type *v, size_t n, int depth)                                                      \
    {                                                                                                            \
        while (n > 16) {                                                                                         \
            if (depth-- <= 0) {                                                                                  \
                name##_heap_(v, n);                                                                              \
                return;                                                                                          \
            }                                                                                                    \
            size_t mid = n / 2, i = 0, j = n;                                                                    \
            if (before(&v[mid], &v[0]))                                                                          \
                name##_swap_(&v[mid], &v[0]);                                                                    \
            if (before(&v[n - 1], &v[0]))                                                                        \
                name##_swap_(&v[n - 1], &v[0]);                                                                  \
            if (before(&v[n - 1], &v[mid]))                                                                      \
                name##_swap_(&v[n - 1], &v[mid]);                                                                \
            name##_swap_(&v[0], &v[mid]); /* the median of three is the pivot, at v[0] */                       \
            for (;;) {                                                                                           \
                do                                                                                               \
                    i++;                                                                                         \
                while (i < n && before(&v[i], &v[0]));                                                           \
                do                                                                                               \
                    j--;                                                                                         \
                while (before(&v[0], &v[j]));                                                                    \
                if (i >= j)                                                                                      \
                    break;                                                                                       \
                name##_swap_(&v[i], &v[j]);                                                                      \
            }                                                                                                    \
            name##_swap_(&v[0], &v[j]);                                                                          \
            if (j < n - j - 1) { /* the smaller side by recursion, the larger in the loop */                     \
                name##_intro_(v, j, depth);                                                                      \
                v += j + 1;                                                                                      \
                n -= j + 1;                                                                                      \
            } else {                                                                                             \
                name##_intro_(v + j + 1, n - j - 1, depth);                                                      \
                n = j;                                                                                           \
            }                                                                                                    \
        }                                                                                                        \
        name##_insertion_(v, n);                                                                                 \
    }                                                                                                            \
    static void name(type *v, size_t n)                                                                          \
    {                                                                                                            \
        int depth = 2;                                                                                           \
        for (size_t k = n; k > 1; k >>= 1)                                                                       \
            depth += 2;                                                                                          \
        name##_intro_(v, n, depth);                                                                              \
    }

#endif
