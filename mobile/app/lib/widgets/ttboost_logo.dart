import 'package:flutter/material.dart';

import '../utils/constants.dart';

/// The TTBoost logo: a gradient badge with a sound wave and the word mark.
class TtboostLogo extends StatelessWidget {
  const TtboostLogo({super.key, this.size = 88});

  final double size;

  @override
  Widget build(BuildContext context) => Column(
        mainAxisSize: MainAxisSize.min,
        children: [
          Container(
            width: size,
            height: size,
            decoration: BoxDecoration(
              gradient: AppColors.brandGradient,
              borderRadius: BorderRadius.circular(size * 0.28),
              boxShadow: const [BoxShadow(color: Color(0x668A2BE2), blurRadius: 32, offset: Offset(0, 10))],
            ),
            child: Icon(Icons.graphic_eq_rounded, size: size * 0.56, color: AppColors.text),
          ),
          const SizedBox(height: 16),
          ShaderMask(
            shaderCallback: (r) => AppColors.brandGradient.createShader(r),
            child: const Text('TTBoost', style: AppText.h1),
          ),
        ],
      );
}
